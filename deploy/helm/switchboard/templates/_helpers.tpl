{{/* Names, labels and shared pod pieces. */}}

{{- define "sb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- range $k, $v := .Values.commonLabels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* (dict "root" $ "name" <service>) */}}
{{- define "sb.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* sb.labels (has app.kubernetes.io/instance) + the service's name and component. */}}
{{- define "sb.serviceLabels" -}}
{{ include "sb.labels" .root }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* A nats-server config list of quoted subjects (toJson would escape ">" as \u003e, which nats-server rejects). */}}
{{- define "sb.natsList" -}}
[{{ range $i, $s := . }}{{ if $i }}, {{ end }}"{{ $s }}"{{ end }}]
{{- end -}}

{{- define "sb.image" -}}
{{- if eq (toString .Values.image.tag) "latest" -}}
{{- fail "image.tag must not be \"latest\": pin a version or set image.digest" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "sb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sb.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sb.appSecretName" -}}
{{- default (printf "%s-app" (include "sb.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "sb.natsSecretName" -}}
{{- default (printf "%s-nats-credentials" (include "sb.fullname" .)) .Values.natsConnection.auth.existingSecret -}}
{{- end -}}

{{/* Checks the schema cannot express (also run when schema validation is skipped). */}}
{{- define "sb.validate" -}}
{{- if and (not .Values.secrets.existingSecret) (lt (len .Values.secrets.signalingSecret) 16) -}}
{{- fail "secrets.signalingSecret is required (16+ characters) unless secrets.existingSecret names a Secret with SIGNALING_SECRET" -}}
{{- end -}}
{{- $gw := index .Values.services "sfu-gateway" -}}
{{- if gt (int $gw.rtc.minPort) (int $gw.rtc.maxPort) -}}
{{- fail "services.sfu-gateway.rtc.minPort must be <= rtc.maxPort" -}}
{{- end -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.keda.enabled (not $svc.keda.stream) -}}
{{- fail (printf "services.%s.keda.stream (and keda.consumers) must be set to enable KEDA" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Env shared by every service container: (dict "root" $ "name" <service> "svc" <values>) */}}
{{- define "sb.commonEnv" -}}
{{- $root := .root -}}
- name: SERVICE
  value: {{ .name | quote }}
- name: HTTP_PORT
  value: {{ .svc.httpPort | quote }}
- name: REPLICA_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- include "sb.natsEnv" (dict "root" $root "user" .name) }}
{{- end -}}

{{/* NATS credentials for one user: (dict "root" $ "user" <principal>) */}}
{{- define "sb.natsEnv" -}}
{{- if .root.Values.natsConnection.auth.enabled }}
- name: NATS_USER
  value: {{ .user | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sb.natsSecretName" .root }}
      key: {{ .user | quote }}
{{- end }}
{{- end -}}

{{/* One password per NATS user: existing value (upgrade), given value, or a new random one. */}}
{{- define "sb.natsPassword" -}}
{{- $given := index (.root.Values.natsConnection.auth.passwords | default dict) .user | default "" -}}
{{- if $given -}}
{{- $given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (printf "%s-nats-credentials" (include "sb.fullname" .root)) -}}
{{- if and $existing $existing.data (hasKey $existing.data .user) -}}
{{- index $existing.data .user | b64dec -}}
{{- else -}}
{{- printf "p%s" (randAlphaNum 31) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sb.passwordEnvName" -}}
{{- printf "SWITCHBOARD_NATS_PASSWORD_%s" (. | upper | replace "-" "_") -}}
{{- end -}}

{{- define "sb.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}
