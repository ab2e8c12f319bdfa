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
{name, key} of the Secret holding one tenant's PostgreSQL DSN, `{tenant}` standing for the
tenant's id (bundled or external): the only database credential a tenant's pods get, for the
login role the database maps to that tenant. The operator fills in the tenant.
*/}}
{{- define "arbiter.storeSecret" -}}
{{- if .Values.postgresql.enabled -}}
name: {{ include "arbiter.fullname" . }}-postgresql-tenant-{tenant}
key: dsn
{{- else -}}
name: {{ required "postgresql.external.tenantDsnSecret.name is required when postgresql.enabled=false (a Secret name with {tenant}, one per tenant's role DSN)" .Values.postgresql.external.tenantDsnSecret.name }}
key: {{ .Values.postgresql.external.tenantDsnSecret.key }}
{{- end -}}
{{- end -}}

{{/*
A tenant's login role, as arbiter.platform.store.provision.tenant_role names it: arbiter_t_<id>,
or for an id too long for 63 bytes its first 40 characters and 12 hex digits of its SHA-256.
*/}}
{{- define "arbiter.tenantRole" -}}
{{- if le (len .) 53 -}}
arbiter_t_{{ . }}
{{- else -}}
arbiter_t_{{ trunc 40 . }}_{{ sha256sum . | trunc 12 }}
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
ARBITER__VAULT__ADDR: {{ include "arbiter.vaultAddr" . }}
ARBITER__GRPC__VAULT_ADDR: {{ printf "%s-vault.%s.svc:50051" $full $ns }}
ARBITER__GRPC__CONTROL_ADDR: {{ printf "%s-control.%s.svc:50051" $full $ns }}
{{- end -}}

{{/* The Vault/OpenBao HTTP API: the bundled dev server's, else vault.external.addr. */}}
{{- define "arbiter.vaultAddr" -}}
{{ if .Values.vault.enabled }}http://{{ include "arbiter.dependencyHost" (dict "root" . "name" "vault") }}:{{ .Values.vault.bundled.port }}{{ else }}{{ required "vault.external.addr is required when vault.enabled=false" .Values.vault.external.addr }}{{ end }}
{{- end -}}

{{/* The Secret with the operator's Vault token when it manages tenants' Vault roles, else
empty: operator.vault.tokenSecret.name, or the bundled dev Vault's root token. */}}
{{- define "arbiter.operatorVaultToken" -}}
{{- $vault := .Values.operator.vault -}}
{{- if $vault.manageRoles -}}
{{- $vault.tokenSecret.name | default (ternary (printf "%s-bundled-vault" (include "arbiter.fullname" .)) "" .Values.vault.enabled) -}}
{{- end -}}
{{- end -}}

{{/* services/operator/platform.py reads this: what tenants' execution planes are built from. */}}
{{- define "arbiter.operatorPlatform" -}}
image: {{ include "arbiter.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  {{- include "arbiter.connectionEnv" . | nindent 2 }}
{{- /* What tenants' store Secret copies come from (services/operator/store_credentials.py). */}}
storeSecret:
  {{- include "arbiter.storeSecret" . | nindent 2 }}
  namespace: {{ .Release.Namespace }}
{{- /* How the operator manages tenants' Vault roles (services/operator/vault_roles.py). */}}
{{- $vault := .Values.operator.vault }}
{{- $token := include "arbiter.operatorVaultToken" . }}
{{- if $token }}
vault:
  addr: {{ include "arbiter.vaultAddr" . | quote }}
  namespace: {{ .Release.Namespace }}
  tokenSecret:
    name: {{ $token }}
    key: {{ $vault.tokenSecret.key }}
  authMount: {{ $vault.authMount | quote }}
  kubernetesHost: {{ $vault.kubernetesHost | quote }}
  transitMount: {{ $vault.transitMount | quote }}
  tenantKey: {{ $vault.tenantKey | quote }}
{{- end }}
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
{{- /* Rules tenants' NetworkPolicies are built from (templates/networkpolicy.yaml). */}}
networkPolicy:
  {{- include "arbiter.np.platform" . | nindent 2 }}
{{- /* Where tenants' and, in chart mode, the shared services' certificates come from. */}}
tls:
  {{- include "arbiter.tls.platform" . | nindent 2 }}
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

{{/* ---- NetworkPolicy building blocks (templates/networkpolicy.yaml, and the tenants' rules
in platform.yaml that the operator builds tenants' policies from). ---- */}}

{{/* The enabled shared services (`arbiter serve` pods), a YAML list. */}}
{{- define "arbiter.np.serveNames" -}}
{{- $names := list -}}
{{- range $name, $entry := .Values.services -}}
{{- if (mergeOverwrite (deepCopy $.Values.defaults) $entry).enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml (sortAlpha $names) -}}
{{- end -}}

{{/* Peers matching the tenants' pods the operator builds (all of them, or those with the
labels given), in the namespaces it watches; a YAML list, empty without the operator.
ctx: dict root, labels (optional). */}}
{{- define "arbiter.np.tenantPeers" -}}
{{- $root := .root -}}
{{- if $root.Values.operator.enabled -}}
{{- $labels := dict "app.kubernetes.io/managed-by" "arbiter-operator" -}}
{{- $labels = merge $labels (.labels | default dict) -}}
{{- $ns := dict -}}
{{- if eq $root.Values.operator.watch "release-namespace" -}}
{{- $ns = dict "matchLabels" (dict "kubernetes.io/metadata.name" $root.Release.Namespace) -}}
{{- end -}}
{{- toYaml (list (dict "namespaceSelector" $ns "podSelector" (dict "matchLabels" $labels "matchExpressions" (list (dict "key" "arbiter.dev/tenant" "operator" "Exists")))))  -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* One rule: {to|from: peers (omitted when empty: any address), ports: TCP ports}.
ctx: dict key ("to" or "from"), peers, ports (list of numbers). */}}
{{- define "arbiter.np.rule" -}}
{{- $ports := list -}}
{{- range .ports }}{{ $ports = append $ports (dict "port" (int .) "protocol" "TCP") }}{{ end -}}
{{- $rule := dict "ports" $ports -}}
{{- with .peers }}{{ $_ := set $rule $.key . }}{{ end -}}
{{- toYaml $rule -}}
{{- end -}}

{{/* A peer in the release's namespace, seen from the release (podSelector only) or from a
tenant's namespace (namespaced). ctx: dict root, labels, namespaced. */}}
{{- define "arbiter.np.releasePeer" -}}
{{- $peer := dict "podSelector" (dict "matchLabels" (merge (deepCopy .labels) (dict "app.kubernetes.io/name" "arbiter" "app.kubernetes.io/instance" .root.Release.Name))) -}}
{{- if .namespaced -}}
{{- $_ := set $peer "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" .root.Release.Namespace)) -}}
{{- end -}}
{{- toYaml $peer -}}
{{- end -}}

{{/* Egress to a dependency (kafka, postgresql, vault: Vault/OpenBao's HTTP API): the bundled
server's pod and port, else networkPolicy.<dep>.to/ports. ctx: dict root, dep, namespaced. */}}
{{- define "arbiter.np.depEgress" -}}
{{- $values := index .root.Values .dep -}}
{{- if $values.enabled -}}
{{- $peer := include "arbiter.np.releasePeer" (dict "root" .root "labels" (dict "app.kubernetes.io/component" (printf "bundled-%s" .dep)) "namespaced" .namespaced) | fromYaml -}}
{{- include "arbiter.np.rule" (dict "key" "to" "peers" (list $peer) "ports" (list $values.bundled.port)) -}}
{{- else -}}
{{- $ext := index .root.Values.networkPolicy .dep -}}
{{- include "arbiter.np.rule" (dict "key" "to" "peers" $ext.to "ports" $ext.ports) -}}
{{- end -}}
{{- end -}}

{{/* Egress to the OTLP endpoint, empty when no endpoint: the bundled collector's pod, else
networkPolicy.otlp.to on networkPolicy.otlp.ports. ctx: dict root, namespaced. */}}
{{- define "arbiter.np.otlpEgress" -}}
{{- $otel := .root.Values.observability.otel -}}
{{- if $otel.endpoint -}}
{{- include "arbiter.np.rule" (dict "key" "to" "peers" .root.Values.networkPolicy.otlp.to "ports" .root.Values.networkPolicy.otlp.ports) -}}
{{- else if $otel.collector.enabled -}}
{{- $peer := include "arbiter.np.releasePeer" (dict "root" .root "labels" (dict "app.kubernetes.io/component" "otel-collector") "namespaced" .namespaced) | fromYaml -}}
{{- include "arbiter.np.rule" (dict "key" "to" "peers" (list $peer) "ports" (list 4317)) -}}
{{- end -}}
{{- end -}}

{{- define "arbiter.np.dnsEgress" -}}
{{- $dns := .Values.networkPolicy.dns -}}
{{- $rule := dict "ports" (list (dict "port" 53 "protocol" "UDP") (dict "port" 53 "protocol" "TCP")) -}}
{{- with $dns.to }}{{ $_ := set $rule "to" . }}{{ end -}}
{{- toYaml $rule -}}
{{- end -}}

{{- define "arbiter.np.venuesEgress" -}}
{{- include "arbiter.np.rule" (dict "key" "to" "peers" .Values.networkPolicy.venues.to "ports" .Values.networkPolicy.venues.ports) -}}
{{- end -}}

{{/* What the operator builds tenants' NetworkPolicies from (services/operator/platform.py):
ready-made egress rules and ingress peers, as seen from a tenant's namespace. */}}
{{- define "arbiter.np.platform" -}}
{{- $np := .Values.networkPolicy -}}
enabled: {{ $np.enabled }}
{{- if $np.enabled }}
egress:
  dns:
    {{- include "arbiter.np.dnsEgress" . | nindent 4 }}
  kafka:
    {{- include "arbiter.np.depEgress" (dict "root" . "dep" "kafka" "namespaced" true) | nindent 4 }}
  postgresql:
    {{- include "arbiter.np.depEgress" (dict "root" . "dep" "postgresql" "namespaced" true) | nindent 4 }}
  venues:
    {{- include "arbiter.np.venuesEgress" . | nindent 4 }}
  {{- with include "arbiter.np.otlpEgress" (dict "root" . "namespaced" true) }}
  otlp:
    {{- . | nindent 4 }}
  {{- end }}
  {{- $vault := (mergeOverwrite (deepCopy .Values.defaults) (.Values.services.vault | default dict)).enabled }}
  {{- if and $vault (hasKey .Values.services "vault") }}
  signer:
    to:
      - {{- include "arbiter.np.releasePeer" (dict "root" . "labels" (dict "app.kubernetes.io/component" "vault") "namespaced" true) | nindent 8 }}
    ports:
      - {port: 50051, protocol: TCP}
  {{- end }}
ingress:
  prometheus:
    {{- toYaml $np.prometheus.from | nindent 4 }}
  {{- $control := (mergeOverwrite (deepCopy .Values.defaults) (.Values.services.control | default dict)).enabled }}
  {{- if and $control (hasKey .Values.services "control") }}
  control:
    - {{- include "arbiter.np.releasePeer" (dict "root" . "labels" (dict "app.kubernetes.io/component" "control") "namespaced" true) | nindent 6 }}
  {{- end }}
{{- end }}
{{- end -}}
