{{/* RBAC rules of the operator; the comments say which code path needs each one. */}}

{{/* Reads at cluster scope, needed whatever the watch scope. */}}
{{- define "queuefleet.operator.clusterRules" -}}
# Whether KEDA and the Prometheus Operator are installed (and kopf's resource scanning).
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
# kopf lists namespaces at startup even for a fixed list of them (without this it retries
# for minutes before falling back).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end -}}

{{/* Everything the operator does inside a watched namespace. */}}
{{- define "queuefleet.operator.namespacedRules" -}}
# The WorkflowQueues: watched; kopf keeps its progress in annotations (patch).
- apiGroups: [queuefleet.dev]
  resources: [workflowqueues]
  verbs: [get, list, watch, patch]
- apiGroups: [queuefleet.dev]
  resources: [workflowqueues/status]
  verbs: [patch]
# blockOwnerDeletion on the children's owner references needs this.
- apiGroups: [queuefleet.dev]
  resources: [workflowqueues/finalizers]
  verbs: [update]
# Children: watched, server-side applied (patch creates), deleted when no longer wanted.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [keda.sh]
  resources: [scaledobjects, triggerauthentications]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [podmonitors]
  verbs: [get, list, watch, create, patch, delete]
# TemporalConnections: watched, never written (they belong to an admin).
- apiGroups: [queuefleet.dev]
  resources: [temporalconnections]
  verbs: [get, list, watch]
# Worker pods, watched (label-filtered) so a crash-looping worker's reason reaches the
# queue's status. Read only.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# Events about WorkflowQueues.
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}


{{/*
Secrets, only in the namespaces that hold TemporalConnections (a Role in each, never a
ClusterRole): the TLS and API-key Secrets a connection names, read by name to query the
backlog; never listed or watched.
*/}}
{{- define "queuefleet.operator.secretRules" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}

{{/*
Namespaces where the operator may read Secrets: operator.secretNamespaces, else the watched
namespaces (watchScope namespaces), else the release namespace.
*/}}
{{- define "queuefleet.operator.secretNamespaces" -}}
{{- $operator := .Values.operator -}}
{{- if $operator.secretNamespaces -}}
{{- toJson $operator.secretNamespaces -}}
{{- else if eq $operator.watchScope "namespaces" -}}
{{- include "queuefleet.operator.watchNamespaces" . -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}
