{{/*
Guardrails the schema cannot express: values that contradict each other. Each message names
the value and what to do. The schema (values.schema.json) checks types and shapes first.
*/}}
{{- define "queuefleet.validate" -}}
{{- if hasKey .Values "uninstallHook" -}}
  {{- fail "uninstallHook was removed after 0.1.0: the operator sets no finalizer, so helm uninstall needs no hook; delete the uninstallHook block from your values (see the chart README, \"Upgrading from 0.1.0\")" -}}
{{- end -}}
{{- $temporal := .Values.temporal -}}
{{- $external := $temporal.external -}}
{{- if eq $temporal.mode "external" -}}
  {{- if not $external.address -}}
    {{- fail "temporal.external.address is required when temporal.mode is external (host:port of the Temporal frontend, e.g. my-ns.a1b2c.tmprl.cloud:7233)" -}}
  {{- end -}}
  {{- if and (not $external.tls.enabled) (or $external.tls.secretName $external.tls.caKey $external.tls.serverName) -}}
    {{- fail "temporal.external.tls.secretName, caKey and serverName need temporal.external.tls.enabled=true" -}}
  {{- end -}}
  {{- if and $external.tls.caKey (not $external.tls.secretName) -}}
    {{- fail "temporal.external.tls.caKey names a key in temporal.external.tls.secretName, which is empty" -}}
  {{- end -}}
  {{- if and $external.tls.enabled (not $external.tls.secretName) (not $external.apiKeySecret.name) -}}
    {{- fail "temporal.external.tls.enabled needs temporal.external.tls.secretName (a client certificate) or temporal.external.apiKeySecret.name: KEDA's Temporal scaler uses TLS only with one of them" -}}
  {{- end -}}
{{- else -}}
  {{- if or $external.address $external.tls.enabled $external.tls.secretName $external.apiKeySecret.name -}}
    {{- fail "temporal.external.* is set but temporal.mode is dev; set temporal.mode=external to use an existing Temporal, or remove temporal.external" -}}
  {{- end -}}
{{- end -}}
{{- $ui := $temporal.ui -}}
{{- if and $ui.ingress.enabled (not $ui.ingress.hosts) -}}
  {{- fail "temporal.ui.ingress.hosts is empty: list the host names the Web UI answers on, e.g. [temporal.example.com]" -}}
{{- end -}}
{{- $reserved := list "TEMPORAL_ADDRESS" "TEMPORAL_DEFAULT_NAMESPACE" "TEMPORAL_UI_PORT" "TEMPORAL_UI_PUBLIC_PATH" "TEMPORAL_CORS_ORIGINS" -}}
{{- range $index, $env := $ui.extraEnv -}}
  {{- if has $env.name $reserved -}}
    {{- fail (printf "temporal.ui.extraEnv[%d].name %s is set by the chart (from temporal.address, temporal.namespace, temporal.ui.port and publicUrl); set those values instead" $index $env.name) -}}
  {{- end -}}
{{- end -}}
{{- $egress := .Values.networkPolicy.egress -}}
{{- if and .Values.networkPolicy.enabled $egress.enabled -}}
  {{- if and .Values.operator.enabled (not $egress.apiServer) -}}
    {{- fail "networkPolicy.egress.apiServer is empty: with networkPolicy.egress.enabled the operator reaches the API server only through these ipBlock entries, e.g. [{cidr: 10.0.0.1/32, port: 443}] (see `kubectl get endpoints kubernetes`)" -}}
  {{- end -}}
  {{- if and (eq $temporal.mode "external") (not $egress.temporalCidrs) -}}
    {{- fail "networkPolicy.egress.temporalCidrs is empty: with networkPolicy.egress.enabled and temporal.mode=external, list the CIDRs of temporal.external.address" -}}
  {{- end -}}
{{- end -}}
{{- if and $egress.enabled (not .Values.networkPolicy.enabled) -}}
  {{- fail "networkPolicy.egress.enabled needs networkPolicy.enabled=true" -}}
{{- end -}}
{{- if and (eq .Values.operator.watchScope "cluster") .Values.operator.watchNamespaces -}}
  {{- fail "operator.watchNamespaces only applies with operator.watchScope=namespaces" -}}
{{- end -}}
{{- $names := dict -}}
{{- $taskQueues := dict -}}
{{- range $index, $queue := .Values.queues -}}
  {{- if hasKey $names $queue.name -}}
    {{- fail (printf "queues[%d].name %q is used twice; queue names must be unique" $index $queue.name) -}}
  {{- end -}}
  {{- $_ := set $names $queue.name true -}}
  {{- $taskQueue := default $queue.name $queue.taskQueue -}}
  {{- $ns := "" -}}
  {{- with $queue.temporal }}{{ $ns = default "" .namespace }}{{ end -}}
  {{- $key := printf "%s/%s" $ns $taskQueue -}}
  {{- if hasKey $taskQueues $key -}}
    {{- fail (printf "queues[%d] (%s) serves task queue %q like queues item %q; one fleet per task queue" $index $queue.name $taskQueue (get $taskQueues $key)) -}}
  {{- end -}}
  {{- $_ := set $taskQueues $key $queue.name -}}
{{- end -}}
{{- end -}}
