{{/* Names, labels and the checks every template shares. */}}

{{- define "llm-router.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-router.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "llm-router.gatewayName" -}}
{{- printf "%s-gateway" (include "llm-router.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-router.guardName" -}}
{{- printf "%s-guard" (include "llm-router.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-router.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "llm-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include with (dict "root" $ "component" "gateway"). */}}
{{- define "llm-router.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-router.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Whether a variable of gateway.env is switched on (the gateway's booleans). */}}
{{- define "llm-router.envOn" -}}
{{- $value := index .env .name | default "" | toString | lower }}
{{- if has $value (list "1" "true" "yes" "on") }}true{{ end }}
{{- end }}

{{/*
Values the gateway would refuse to start with, refused here instead: a variable the chart sets
itself repeated in gateway.env, a guardrail without a guard service, audit records without a key.
*/}}
{{- define "llm-router.checks" -}}
{{- $env := .Values.gateway.env | default dict }}
{{- $reserved := list "LLM_ROUTER_MODELS_CONFIG" "LLM_ROUTER_SERVER_HOST" "LLM_ROUTER_SERVER_PORT" "LLM_ROUTER_SERVER_WORKERS_COUNT" "LLM_ROUTER_REDIS_HOST" "LLM_ROUTER_REDIS_PORT" "LLM_ROUTER_REDIS_DB" "LLM_ROUTER_REDIS_PASSWORD" "LLM_ROUTER_AUDIT_PUBLIC_KEY" "LLM_ROUTER_AUDIT_DIR" }}
{{- if .Values.guard.enabled }}
{{- $reserved = append $reserved "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST" }}
{{- end }}
{{- range $name := $reserved }}
{{- if hasKey $env $name }}
{{- fail (printf "gateway.env.%s: the chart sets this variable itself; use the chart's own value for it (see values.yaml)" $name) }}
{{- end }}
{{- end }}
{{- range $direction := list "REQUEST" "RESPONSE" }}
{{- if and (include "llm-router.envOn" (dict "env" $env "name" (printf "LLM_ROUTER_FORCE_GUARDRAIL_%s" $direction))) (not $.Values.guard.enabled) (not (hasKey $env "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST")) }}
{{- fail (printf "gateway.env.LLM_ROUTER_FORCE_GUARDRAIL_%s is on but guard.enabled is false: enable the guard or set gateway.env.LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST" $direction) }}
{{- end }}
{{- end }}
{{- range $name := list "LLM_ROUTER_MASKING_WITH_AUDIT" "LLM_ROUTER_AUTH_WITH_AUDIT" "LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST" "LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE" }}
{{- if and (include "llm-router.envOn" (dict "env" $env "name" $name)) (not $.Values.audit.enabled) }}
{{- fail (printf "gateway.env.%s is on but audit.enabled is false: the gateway needs the audit public key (audit.publicKeySecret)" $name) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "llm-router.gatewayImage" -}}
{{- printf "%s:%s" .Values.gateway.image.repository (default .Chart.AppVersion .Values.gateway.image.tag) }}
{{- end }}

{{- define "llm-router.guardImage" -}}
{{- printf "%s:%s" .Values.guard.image.repository (default .Chart.AppVersion .Values.guard.image.tag) }}
{{- end }}
