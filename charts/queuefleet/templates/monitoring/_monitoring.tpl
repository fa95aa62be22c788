{{/*
Labels of the monitoring objects. A Prometheus picks ServiceMonitors, PodMonitors and
PrometheusRules by label (a stock kube-prometheus-stack: `release: <its Helm release>`), so
monitoring.labels goes on every one of them, the operator's per-queue PodMonitors included,
and each object's own `labels` on top. The chart's and the operator's own labels
(`app.kubernetes.io/*`, `helm.sh/chart`) cannot be replaced: they select the objects.
*/}}

{{/* monitoring.labels with one object's labels on top, checked. Usage: (list $ "serviceMonitor") */}}
{{- define "queuefleet.monitoring.extraLabels" -}}
{{- $root := index . 0 -}}
{{- $part := index . 1 -}}
{{- $common := $root.Values.monitoring.labels | default dict -}}
{{- $own := (index $root.Values.monitoring $part | default dict).labels | default dict -}}
{{- range $field, $labels := dict "monitoring.labels" $common (printf "monitoring.%s.labels" $part) $own -}}
{{- range $key, $_ := $labels -}}
  {{- if or (hasPrefix "app.kubernetes.io/" $key) (eq $key "helm.sh/chart") -}}
    {{- fail (printf "%s: %s is one of the chart's own labels, which select the object; choose another key" $field $key) -}}
  {{- end -}}
{{- end -}}
{{- end -}}
{{- toJson (merge (deepCopy $own) (deepCopy $common)) -}}
{{- end -}}

{{/*
Every label of one monitoring object the chart renders: the component's standard labels,
then the extra ones (which win over commonLabels). Values are quoted, so a label like
`release: 2024` stays a string.
Usage: include "queuefleet.monitoring.labels" (list $ "operator" "serviceMonitor")
*/}}
{{- define "queuefleet.monitoring.labels" -}}
{{- $root := index . 0 -}}
{{- $standard := include "queuefleet.componentLabels" (list $root (index . 1)) | fromYaml -}}
{{- $extra := include "queuefleet.monitoring.extraLabels" (list $root (index . 2)) | fromJson -}}
{{- $labels := merge $extra $standard -}}
{{- $lines := list -}}
{{- range $key := keys $labels | sortAlpha -}}
{{- $lines = append $lines (printf "%s: %s" $key (index $labels $key | toString | quote)) -}}
{{- end -}}
{{- join "\n" $lines -}}
{{- end -}}

{{/*
The labels of the worker PodMonitors the operator creates, as its --pod-monitor-labels
takes them: `key=value,key=value`, sorted.
*/}}
{{- define "queuefleet.monitoring.podMonitorLabels" -}}
{{- $labels := include "queuefleet.monitoring.extraLabels" (list . "podMonitor") | fromJson -}}
{{- $pairs := list -}}
{{- range $key := keys $labels | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%s" $key (index $labels $key | toString)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
