{{/* Names, labels and the connection settings every Arbiter process shares. */}}

{{- define "arbiter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels of one component; ctx: dict root, name. */}}
{{- define "arbiter.selectorLabels" -}}
app.kubernetes.io/name: arbiter
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "arbiter.labels" -}}
{{ include "arbiter.selectorLabels" . }}
app.kubernetes.io/part-of: arbiter
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "arbiter.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "arbiter.dependencyHost" -}}
{{- printf "%s-bundled-%s.%s.svc" (include "arbiter.fullname" .root) .name .root.Release.Namespace -}}
{{- end -}}

{{/* DSN of the bundled PostgreSQL for one role; ctx: dict root, user, password. */}}
{{- define "arbiter.postgresDsn" -}}
{{- $b := .root.Values.postgresql.bundled -}}
{{- printf "postgresql://%s:%s@%s:%v/%s" .user .password (include "arbiter.dependencyHost" (dict "root" .root "name" "postgresql")) $b.port $b.env.POSTGRES_DB -}}
{{- end -}}

{{/*
{name, key} of the Secret holding the app role's PostgreSQL DSN (bundled or external): the
only database credential services get. Row-level security binds that role.
*/}}
{{- define "arbiter.storeSecret" -}}
{{- if .Values.postgresql.enabled -}}
name: {{ include "arbiter.fullname" . }}-postgresql-app
key: dsn
{{- else -}}
name: {{ required "postgresql.external.dsnSecret.name is required when postgresql.enabled=false" .Values.postgresql.external.dsnSecret.name }}
key: {{ .Values.postgresql.external.dsnSecret.key }}
{{- end -}}
{{- end -}}

{{/*
{name, key} of the Secret holding the vault role's PostgreSQL DSN: given to the vault service
alone, the one role that may read sealed credentials (docs/vault.md).
*/}}
{{- define "arbiter.vaultStoreSecret" -}}
{{- if .Values.postgresql.enabled -}}
name: {{ include "arbiter.fullname" . }}-postgresql-vault
key: dsn
{{- else -}}
name: {{ required "postgresql.external.vaultDsnSecret.name is required when postgresql.enabled=false and services.vault is enabled (the arbiter_vault role's DSN)" .Values.postgresql.external.vaultDsnSecret.name }}
key: {{ .Values.postgresql.external.vaultDsnSecret.key }}
{{- end -}}
{{- end -}}

{{/*
Connection env shared by the chart's services and, through platform.yaml, by every tenant's
execution plane. Addresses are fully qualified because tenants live in other namespaces.
*/}}
{{- define "arbiter.connectionEnv" -}}
{{- $ns := .Release.Namespace -}}
{{- $full := include "arbiter.fullname" . -}}
ARBITER__BUS__KIND: kafka
ARBITER__BUS__KAFKA_BOOTSTRAP: {{ if .Values.kafka.enabled }}{{ include "arbiter.dependencyHost" (dict "root" . "name" "kafka") }}:{{ .Values.kafka.bundled.port }}{{ else }}{{ required "kafka.external.bootstrap is required when kafka.enabled=false" .Values.kafka.external.bootstrap }}{{ end }}
ARBITER__VAULT__ADDR: {{ if .Values.vault.enabled }}http://{{ include "arbiter.dependencyHost" (dict "root" . "name" "vault") }}:{{ .Values.vault.bundled.port }}{{ else }}{{ required "vault.external.addr is required when vault.enabled=false" .Values.vault.external.addr }}{{ end }}
ARBITER__GRPC__VAULT_ADDR: {{ printf "%s-vault.%s.svc:50051" $full $ns }}
ARBITER__GRPC__CONTROL_ADDR: {{ printf "%s-control.%s.svc:50051" $full $ns }}
{{- end -}}

{{/* services/operator/platform.py reads this: what tenants' execution planes are built from. */}}
{{- define "arbiter.operatorPlatform" -}}
image: {{ include "arbiter.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  {{- include "arbiter.connectionEnv" . | nindent 2 }}
storeSecret:
  {{- include "arbiter.storeSecret" . | nindent 2 }}
latencyCritical:
  nodeLabelKey: {{ .Values.latencyCritical.nodeLabel.key }}
  nodeLabelValue: {{ .Values.latencyCritical.nodeLabel.value | quote }}
  tolerations:
    {{- toYaml .Values.latencyCritical.tolerations | nindent 4 }}
tiers:
  {{- toYaml .Values.operator.tiers | nindent 2 }}
{{- /* Placement and pull settings of every tenant pod: the chart's global ones. */}}
pods:
  {{- range $key := list "nodeSelector" "affinity" "tolerations" "priorityClassName" "topologySpreadConstraints" "podAnnotations" "imagePullSecrets" }}
  {{ $key }}: {{ index $.Values $key | toJson }}
  {{- end }}
{{- /* Telemetry of tenants' pods: the same scrape annotations and OTLP endpoint as the
       shared services' (services/operator/children.py). */}}
telemetry:
  scrapeAnnotations: {{ .Values.observability.scrape.annotations }}
  otlpEndpoint: {{ include "arbiter.otelEndpoint" . | quote }}
  resourceAttributes:
    {{- toYaml (.Values.observability.otel.resourceAttributes | default dict) | nindent 4 }}
{{- end -}}

{{/* "true" when the PodMonitors are rendered: observability.podMonitor.enabled, or when that is
null, observability.alerts.enabled (the alerts need scraped targets with the PodMonitors' jobs). */}}
{{- define "arbiter.podMonitorEnabled" -}}
{{- $pm := .Values.observability.podMonitor -}}
{{- if kindIs "invalid" $pm.enabled -}}
{{- if .Values.observability.alerts.enabled }}true{{ end -}}
{{- else if $pm.enabled }}true{{ end -}}
{{- end -}}

{{/* The OTLP/gRPC endpoint pods export spans to: the configured one, else the bundled
collector's, else empty (no export). */}}
{{- define "arbiter.otelEndpoint" -}}
{{- $otel := .Values.observability.otel -}}
{{- if $otel.endpoint -}}
{{- $otel.endpoint -}}
{{- else if $otel.collector.enabled -}}
{{- printf "http://%s-otel-collector.%s.svc:4317" (include "arbiter.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* OTEL_RESOURCE_ATTRIBUTES of one workload; ctx: dict root, namespace, deployment, extra
(a map of more attributes). The user's observability.otel.resourceAttributes come last. */}}
{{- define "arbiter.otelResourceAttributes" -}}
{{- $attrs := dict "k8s.namespace.name" .namespace "k8s.deployment.name" .deployment -}}
{{- $attrs = merge (deepCopy (.root.Values.observability.otel.resourceAttributes | default dict)) (.extra | default dict) $attrs -}}
{{- $pairs := list -}}
{{- range $k := keys $attrs | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" $k (index $attrs $k)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The pod annotations annotation-based Prometheus scrapes by (observability.scrape). */}}
{{- define "arbiter.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: "8080"
prometheus.io/path: /metrics
{{- end -}}

{{/* Env names Arbiter's own templates (and the operator) set; extraEnv may not override them. */}}
{{- define "arbiter.reservedEnv" -}}
{{- if or (hasPrefix "ARBITER_" .) (hasPrefix "OTEL_EXPORTER_OTLP_" .) (eq . "OTEL_RESOURCE_ATTRIBUTES") }}true{{ end -}}
{{- end -}}

{{/* The shared services that run and serve /metrics (enabled, replicas > 0), sorted: the
PodMonitor selects them and the target alerts expect each. A YAML list. */}}
{{- define "arbiter.scrapedServices" -}}
{{- $names := list -}}
{{- range $name, $entry := .Values.services -}}
{{- $cfg := mergeOverwrite (deepCopy $.Values.defaults) $entry -}}
{{- if and $cfg.enabled (gt (int $cfg.replicas) 0) -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml (sortAlpha $names) -}}
{{- end -}}
