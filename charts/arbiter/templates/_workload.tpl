{{/*
The workload templates every Arbiter process is rendered through (shared services in
services.yaml and the operator in operator.yaml). ctx: dict
  root: the chart root context
  name: component name (Deployment/Service name suffix, `arbiter serve` argument)
  cfg:  the merged service values (defaults + entry), optionally with
        kopf (the operator: no Arbiter runtime env), command, args, readinessPath,
        serviceAccountName, configMapName, mountPath, strategy
  configSha: hash of the mounted config, rolls pods when it changes
*/}}

{{- define "arbiter.resources" -}}
{{- $req := .cfg.resources.requests -}}
{{- if .cfg.latencyCritical -}}
{{- if not (regexMatch "^[1-9][0-9]*$" (toString $req.cpu)) -}}
{{- fail (printf "services.%s.resources.requests.cpu must be a whole number of cores for a latencyCritical service (Guaranteed QoS, static CPU manager), got %v" .name $req.cpu) -}}
{{- end -}}
requests:
  cpu: {{ toString $req.cpu | quote }}
  memory: {{ $req.memory | quote }}
limits:
  cpu: {{ toString $req.cpu | quote }}
  memory: {{ $req.memory | quote }}
{{- else -}}
{{- toYaml .cfg.resources -}}
{{- end -}}
{{- end -}}

{{/* What the chart itself asks of a pod's placement: the latency-critical node pin, and
spreading replicas across nodes. ctx: dict root, name, cfg. */}}
{{- define "arbiter.generatedAffinity" -}}
{{- $sel := include "arbiter.selectorLabels" . | fromYaml -}}
{{- if .cfg.latencyCritical }}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - key: {{ .root.Values.latencyCritical.nodeLabel.key }}
            operator: In
            values: [{{ .root.Values.latencyCritical.nodeLabel.value | quote }}]
{{- end }}
{{- if or .cfg.latencyCritical (gt (int (.cfg.replicas | default 1)) 1) }}
# Preferred, not required: a small cluster with one pinned node still schedules.
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- toYaml $sel | nindent 12 }}
{{- end }}
{{- end -}}

{{/* One pod-placement setting: the service entry's own when it has the key (even empty),
else the global value. ctx: dict root, cfg, key. */}}
{{- define "arbiter.podSetting" -}}
{{- $cfg := .cfg | default dict -}}
{{- $value := ternary (index $cfg .key) (index .root.Values .key) (hasKey $cfg .key) -}}
{{- toYaml (dict "v" $value) -}}
{{- end -}}

{{/*
Pod-spec placement and pull settings of every chart-rendered pod: nodeSelector, affinity,
tolerations, priorityClassName, topologySpreadConstraints and imagePullSecrets from values
(global, overridden per `services:` entry), combined with what the chart needs itself. The
chart's latency-critical pin wins over a user affinity of the same kind; a spread constraint
without a labelSelector selects the pod's own replicas. ctx: dict root, name, cfg.
*/}}
{{- define "arbiter.podPlacement" -}}
{{- $get := dict -}}
{{- range $key := list "nodeSelector" "affinity" "tolerations" "priorityClassName" "topologySpreadConstraints" "imagePullSecrets" -}}
{{- $_ := set $get $key (index (include "arbiter.podSetting" (dict "root" $.root "cfg" $.cfg "key" $key) | fromYaml) "v") -}}
{{- end -}}
{{- $sel := include "arbiter.selectorLabels" . | fromYaml -}}
{{- $affinity := merge (include "arbiter.generatedAffinity" . | fromYaml | default dict) (deepCopy ($get.affinity | default dict)) -}}
{{- $tolerations := list -}}
{{- if .cfg.latencyCritical -}}
{{- $tolerations = concat $tolerations .root.Values.latencyCritical.tolerations -}}
{{- end -}}
{{- $tolerations = concat $tolerations ($get.tolerations | default list) -}}
{{- $spread := list -}}
{{- range $c := $get.topologySpreadConstraints | default list -}}
{{- $spread = append $spread (merge (deepCopy $c) (dict "labelSelector" (dict "matchLabels" $sel))) -}}
{{- end -}}
{{- with $get.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $get.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $get.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $spread }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* podAnnotations (global, overridden per `services:` entry), minus the annotations the
chart sets itself (arbiter.dev/*, prometheus.io/*). ctx: dict root, cfg. */}}
{{- define "arbiter.podAnnotations" -}}
{{- $annotations := index (include "arbiter.podSetting" (dict "root" .root "cfg" .cfg "key" "podAnnotations") | fromYaml) "v" | default dict -}}
{{- range $k := keys $annotations | sortAlpha }}
{{- if not (or (hasPrefix "arbiter.dev/" $k) (hasPrefix "prometheus.io/" $k)) }}
{{ $k }}: {{ index $annotations $k | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "arbiter.deployment" -}}
{{- $root := .root -}}
{{- $full := include "arbiter.fullname" $root -}}
{{- /* A gRPC-serving `arbiter serve` pod mounts its certificate (templates/_tls.tpl). */}}
{{- $tls := and .cfg.grpc (not .cfg.kopf) (include "arbiter.tls.enabled" $root) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $full }}-{{ .name }}
  labels:
    {{- include "arbiter.labels" . | nindent 4 }}
spec:
  replicas: {{ .cfg.replicas }}
  strategy:
    type: {{ .cfg.strategy | default "RollingUpdate" }}
  selector:
    matchLabels:
      {{- include "arbiter.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "arbiter.labels" . | nindent 8 }}
        {{- if hasPrefix "gateway-" .name }}
        {{- /* What NetworkPolicies select the order-entry gateways by (venue traffic). */}}
        arbiter.dev/role: gateway
        {{- end }}
      annotations:
        # Roll pods when their mounted config changes.
        arbiter.dev/config-sha256: {{ .configSha }}
        {{- if and (not .cfg.kopf) $root.Values.observability.scrape.annotations }}
        {{- /* `arbiter serve` serves /metrics on its health port; kopf (the operator) does not. */}}
        {{- include "arbiter.scrapeAnnotations" . | nindent 8 }}
        {{- end }}
        {{- with include "arbiter.podAnnotations" . | trim }}
        {{- . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ .cfg.serviceAccountName | default $full }}
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      {{- with include "arbiter.podPlacement" . | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "arbiter.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- with .cfg.command }}
          command:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          args:
            {{- toYaml (.cfg.args | default (list "serve" .name)) | nindent 12 }}
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
            {{- if .cfg.grpc }}
            - name: grpc
              containerPort: 50051
              protocol: TCP
            {{- end }}
          env:
            {{- if not .cfg.kopf }}
            - name: ARBITER_CONFIG
              value: /etc/arbiter/config.yaml
            {{- range $key, $value := include "arbiter.connectionEnv" $root | fromYaml }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
            - name: ARBITER__VAULT__ROLE
              value: {{ $root.Values.vault.role | quote }}
            {{- /* The vault holds the one role that may read sealed credentials, and no other;
                   the other shared services no store credential at all (only a tenant's
                   saga uses the store, with its own tenant's role, set by the operator). */}}
            {{- if eq .name "vault" }}
            - name: ARBITER__VAULT__BACKEND
              value: transit
            {{- if $root.Values.vault.enabled }}
            {{- /* The bundled development Vault: its root token. A real Vault is reached with
                   Kubernetes auth (vault.role) and no token. */}}
            - name: VAULT_TOKEN
              valueFrom:
                secretKeyRef:
                  name: {{ include "arbiter.fullname" $root }}-bundled-vault
                  key: token
            {{- end }}
            - name: ARBITER__VAULT__STORE_DSN
              valueFrom:
                secretKeyRef:
                  {{- include "arbiter.vaultStoreSecret" $root | nindent 18 }}
            {{- end }}
            {{- end }}
            {{- if $tls }}
            {{- range $key, $value := include "arbiter.tls.env" $root | fromYaml }}
            - name: {{ $key }}
              value: {{ $value | quote }}
            {{- end }}
            {{- end }}
            {{- with include "arbiter.otelEndpoint" $root }}
            {{- if not $.cfg.kopf }}
            {{- /* Read by services/platform/telemetry/tracing.py (export on) and the OTLP exporter. */}}
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ . | quote }}
            - name: OTEL_RESOURCE_ATTRIBUTES
              value: {{ include "arbiter.otelResourceAttributes" (dict "root" $root "namespace" $root.Release.Namespace "deployment" (printf "%s-%s" $full $.name)) | quote }}
            {{- end }}
            {{- end }}
            {{- range $key, $value := .cfg.env }}
            - name: {{ $key }}
              value: {{ tpl (toString $value) $root | quote }}
            {{- end }}
            {{- range .cfg.extraEnv }}
            {{- if include "arbiter.reservedEnv" .name }}
            {{- fail (printf "services.%s.extraEnv: %s is set by the chart (ARBITER_*, OTEL_EXPORTER_OTLP_*, OTEL_RESOURCE_ATTRIBUTES); use services.%s.env for ARBITER__SECTION__KEY overrides" $.name .name $.name) }}
            {{- end }}
            {{- if hasKey ($.cfg.env | default dict) .name }}
            {{- fail (printf "services.%s.extraEnv: %s is also in services.%s.env" $.name .name $.name) }}
            {{- end }}
            - {{- toYaml . | nindent 14 }}
            {{- end }}
          resources:
            {{- include "arbiter.resources" . | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: {{ .cfg.readinessPath | default "/readyz" }}
              port: http
            periodSeconds: 5
            failureThreshold: 2
          securityContext:
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: {{ not $root.Values.devSync }}
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: config
              mountPath: {{ .cfg.mountPath | default "/etc/arbiter" }}
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- if $tls }}
            - name: tls
              mountPath: {{ include "arbiter.tls.mountDir" $root }}
              readOnly: true
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ .cfg.configMapName | default (printf "%s-config" $full) }}
        {{- if $tls }}
        {{- /* Written by cert-manager or, in chart mode, the operator: until it exists the
               kubelet keeps the pod in ContainerCreating and retries. */}}
        - name: tls
          secret:
            secretName: {{ $full }}-{{ .name }}-tls
            defaultMode: 0440
        {{- end }}
        - name: tmp
          emptyDir:
            medium: Memory
            sizeLimit: 64Mi
{{- end -}}

{{- define "arbiter.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "arbiter.fullname" .root }}-{{ .name }}
  labels:
    {{- include "arbiter.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "arbiter.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: 8080
      targetPort: http
      protocol: TCP
    {{- if .cfg.grpc }}
    - name: grpc
      port: 50051
      targetPort: grpc
      protocol: TCP
    {{- end }}
{{- end -}}

{{- define "arbiter.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "arbiter.fullname" .root }}-{{ .name }}
  labels:
    {{- include "arbiter.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "arbiter.selectorLabels" . | nindent 6 }}
{{- end -}}
