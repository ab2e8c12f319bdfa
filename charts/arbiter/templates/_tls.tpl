{{/* ---- Mutual TLS between the services (values tls.*; docs/kubernetes.md, "Mutual TLS").
Every gRPC-serving pod, shared or a tenant's, mounts its own certificate Secret at
/etc/arbiter-tls (keys tls.crt, tls.key, ca.crt: the kubernetes.io/tls layout cert-manager
writes) and gets tls.ca_path/cert_path/key_path pointing there. ---- */}}

{{/* "true" unless tls.mode=disabled; fails on a mode that cannot work with these values. */}}
{{- define "arbiter.tls.enabled" -}}
{{- $tls := .Values.tls -}}
{{- if and (eq $tls.mode "chart") (not .Values.operator.enabled) -}}
{{- fail "tls.mode=chart needs operator.enabled=true (the operator issues the certificates from the chart's CA); use tls.mode=certManager or disabled" -}}
{{- end -}}
{{- if and (eq $tls.mode "certManager") (eq $tls.certManager.issuerRef.kind "Issuer") $tls.certManager.issuerRef.name (eq (include "arbiter.tls.clusterwide" .) "true") -}}
{{- fail "tls.certManager.issuerRef.kind=Issuer issues in the release's namespace only; tenants in other namespaces (operator.watch=all-namespaces) need a ClusterIssuer" -}}
{{- end -}}
{{- if ne $tls.mode "disabled" }}true{{ end -}}
{{- end -}}

{{/* "true" when tenants live in other namespaces than the release's: the generated CA issuer
is then a ClusterIssuer. */}}
{{- define "arbiter.tls.clusterwide" -}}
{{- if and .Values.operator.enabled (eq .Values.operator.watch "all-namespaces") }}true{{ end -}}
{{- end -}}

{{/* The tenant id shared services run as (config.tenant.id, the config's own default when
unset): the O of their certificates, which `arbiter serve` checks against its config. */}}
{{- define "arbiter.tls.sharedTenant" -}}
{{- (.Values.config.tenant | default dict).id | default "default" -}}
{{- end -}}

{{- define "arbiter.tls.mountDir" -}}/etc/arbiter-tls{{- end -}}

{{/* The env that points tls.* at the mounted Secret (a YAML map). */}}
{{- define "arbiter.tls.env" -}}
{{- $dir := include "arbiter.tls.mountDir" . -}}
ARBITER__TLS__CA_PATH: {{ $dir }}/ca.crt
ARBITER__TLS__CERT_PATH: {{ $dir }}/tls.crt
ARBITER__TLS__KEY_PATH: {{ $dir }}/tls.key
{{- end -}}

{{/* The shared services with a certificate (enabled, serving gRPC), each as {service, tenant,
namespace, deployment, secretName, dnsNames}: a YAML list, sorted by service. */}}
{{- define "arbiter.tls.shared" -}}
{{- $full := include "arbiter.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $out := list -}}
{{- range $name := keys .Values.services | sortAlpha -}}
{{- $cfg := mergeOverwrite (deepCopy $.Values.defaults) (index $.Values.services $name) -}}
{{- if and $cfg.enabled $cfg.grpc -}}
{{- $host := printf "%s-%s" $full $name -}}
{{- $dns := list $host (printf "%s.%s" $host $ns) (printf "%s.%s.svc" $host $ns) (printf "%s.%s.svc.cluster.local" $host $ns) -}}
{{- $out = append $out (dict "service" $name "tenant" (include "arbiter.tls.sharedTenant" $) "namespace" $ns "deployment" $host "secretName" (printf "%s-tls" $host) "dnsNames" $dns) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "arbiter.tls.caSecretName" -}}{{ include "arbiter.fullname" . }}-tls-ca{{- end -}}

{{/* The cert-manager issuer leaf certificates come from: the user's, else the CA issuer the
chart bootstraps. */}}
{{- define "arbiter.tls.issuerRef" -}}
{{- $ref := .Values.tls.certManager.issuerRef -}}
{{- if $ref.name -}}
{{- toYaml $ref -}}
{{- else -}}
name: {{ include "arbiter.fullname" . }}-{{ .Release.Namespace }}-ca
kind: {{ ternary "ClusterIssuer" "Issuer" (eq (include "arbiter.tls.clusterwide" .) "true") }}
group: cert-manager.io
{{- end -}}
{{- end -}}

{{/* The data of the chart-mode CA Secret: the existing Secret's when there is one (so the CA
survives upgrades; `lookup` finds it in a real install and nothing offline), else a new
ECDSA P-256 CA from genCAWithKey. ctx: dict root, existing (the looked-up Secret or empty). */}}
{{- define "arbiter.tls.caData" -}}
{{- $data := (.existing | default dict).data | default dict -}}
{{- if and (index $data "tls.crt") (index $data "tls.key") -}}
tls.crt: {{ index $data "tls.crt" }}
tls.key: {{ index $data "tls.key" }}
ca.crt: {{ index $data "tls.crt" }}
{{- else -}}
{{- $ca := genCAWithKey (printf "arbiter-%s-plane-ca" .root.Release.Name) (int .root.Values.tls.chart.caDays) (genPrivateKey "ecdsa") -}}
tls.crt: {{ $ca.Cert | b64enc }}
tls.key: {{ $ca.Key | b64enc }}
ca.crt: {{ $ca.Cert | b64enc }}
{{- end -}}
{{- end -}}

{{/* The tls: section of platform.yaml (services/operator/certificates.py reads it). */}}
{{- define "arbiter.tls.platform" -}}
{{- $tls := .Values.tls -}}
mode: {{ $tls.mode }}
{{- if include "arbiter.tls.enabled" . }}
duration: {{ $tls.duration }}
renewBefore: {{ $tls.renewBefore }}
checkIntervalSeconds: {{ $tls.checkIntervalSeconds }}
{{- if eq $tls.mode "chart" }}
caSecret:
  namespace: {{ .Release.Namespace }}
  name: {{ include "arbiter.tls.caSecretName" . }}
sharedLabels:
  app.kubernetes.io/name: arbiter
  app.kubernetes.io/instance: {{ .Release.Name }}
  app.kubernetes.io/part-of: arbiter
  app.kubernetes.io/managed-by: arbiter-operator
  arbiter.dev/tls: leaf
{{- else }}
issuerRef:
  {{- include "arbiter.tls.issuerRef" . | nindent 2 }}
{{- end }}
{{- /* chart mode: the operator issues these; both: it rolls them onto renewed ones. */}}
shared:
  {{- include "arbiter.tls.shared" . | nindent 2 }}
{{- end }}
{{- end -}}
