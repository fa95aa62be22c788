{{/*
The release's TemporalConnection (external mode): `temporal.external.*` defined once, used by
every queue from values through spec.temporal.connectionRef.
*/}}

{{/* Its name: "<fullname>-temporal". */}}
{{- define "queuefleet.temporal.connectionName" -}}
{{- include "queuefleet.componentName" (list . "temporal") -}}
{{- end -}}

{{/* Its spec: the address and namespace, TLS and API-key Secrets referenced by name. */}}
{{- define "queuefleet.temporal.connectionSpec" -}}
{{- $external := .Values.temporal.external -}}
{{- $spec := dict "address" $external.address "namespace" .Values.temporal.namespace -}}
{{- if $external.tls.enabled -}}
{{- $tls := dict "enabled" true -}}
{{- with $external.tls.secretName }}{{ $_ := set $tls "secretName" . }}{{ end -}}
{{- with $external.tls.caKey }}{{ $_ := set $tls "caKey" . }}{{ end -}}
{{- with $external.tls.serverName }}{{ $_ := set $tls "serverName" . }}{{ end -}}
{{- $_ := set $spec "tls" $tls -}}
{{- end -}}
{{- if $external.apiKeySecret.name -}}
{{- $_ := set $spec "apiKeySecret" (dict "name" $external.apiKeySecret.name "key" $external.apiKeySecret.key) -}}
{{- end -}}
{{- toJson $spec -}}
{{- end -}}
