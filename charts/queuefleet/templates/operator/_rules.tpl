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
# The TLS and API-key Secrets a WorkflowQueue references, read by name to query its backlog;
# never listed or watched.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
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
