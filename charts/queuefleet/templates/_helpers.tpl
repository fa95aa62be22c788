{{/*
Names, labels and shared fragments. Every object name goes through queuefleet.fullname or
queuefleet.componentName, which keep names within 63 characters (a DNS label).
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "queuefleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base name of every object: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>".
*/}}
{{- define "queuefleet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"<fullname>-<component>" within 63 characters: the base is shortened, never the component
suffix, so two components can never collide after truncation.
Usage: include "queuefleet.componentName" (list $ "operator")
*/}}
{{- define "queuefleet.componentName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $base := include "queuefleet.fullname" $root | trunc (int (sub 62 (len $component))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base $component -}}
{{- end -}}

{{/* "<chart>-<version>" as a label value. */}}
{{- define "queuefleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: name and instance only, because selectors are immutable. */}}
{{- define "queuefleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "queuefleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The standard label set of every object. */}}
{{- define "queuefleet.labels" -}}
helm.sh/chart: {{ include "queuefleet.chart" . }}
{{ include "queuefleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: queuefleet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/*
Labels and selector of one component: the standard set plus app.kubernetes.io/component.
The component joins the selector so the Deployments of one release never overlap.
Usage: include "queuefleet.componentLabels" (list $ "operator")
*/}}
{{- define "queuefleet.componentLabels" -}}
{{ include "queuefleet.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "queuefleet.componentSelectorLabels" -}}
{{ include "queuefleet.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* "repository:tag" or "repository@digest" of an image block with tag/digest. */}}
{{- define "queuefleet.imageRef" -}}
{{- $image := index . 0 -}}
{{- $defaultTag := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $defaultTag $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The queuefleet image (operator, workers, test pod). */}}
{{- define "queuefleet.image" -}}
{{- include "queuefleet.imageRef" (list .Values.image .Chart.AppVersion) -}}
{{- end -}}

{{- define "queuefleet.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "queuefleet.componentName" (list . "operator")) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Service name of the dev server's gRPC frontend. */}}
{{- define "queuefleet.temporal.frontendName" -}}
{{- include "queuefleet.componentName" (list . "temporal-frontend") -}}
{{- end -}}

{{/* The Temporal frontend every client uses: the dev server's Service or the external address. */}}
{{- define "queuefleet.temporal.address" -}}
{{- if eq .Values.temporal.mode "dev" -}}
{{- /* Fully qualified: KEDA's Go resolver did not find the short `<svc>.<ns>.svc` form. */ -}}
{{- printf "%s.%s.svc.%s:%d" (include "queuefleet.temporal.frontendName" .) .Release.Namespace .Values.clusterDomain (int .Values.temporal.server.grpcPort) -}}
{{- else -}}
{{- .Values.temporal.external.address -}}
{{- end -}}
{{- end -}}

{{/*
Security settings every container of the chart shares: the "restricted" Pod Security
Standard (non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp) plus
a read-only root filesystem.
*/}}
{{- define "queuefleet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod-level security context for a numeric user. Usage: include ... (int uid) */}}
{{- define "queuefleet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The queuefleet image's numeric user (see the Dockerfile). */}}
{{- define "queuefleet.uid" -}}10001{{- end -}}

{{/*
Name of a cluster-scoped object: it carries the release namespace, because two releases of
the same name in different namespaces would otherwise collide. Within 63 characters.
Usage: include "queuefleet.clusterName" (list $ "operator")
*/}}
{{- define "queuefleet.clusterName" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $base := printf "%s-%s" $root.Release.Namespace (include "queuefleet.fullname" $root) | trunc (int (sub 62 (len $component))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base $component -}}
{{- end -}}

{{/* Namespaces the operator watches when watchScope is "namespaces". */}}
{{- define "queuefleet.operator.watchNamespaces" -}}
{{- toJson (.Values.operator.watchNamespaces | default (list .Release.Namespace)) -}}
{{- end -}}

{{/* Name of the kopf peering object the operator's replicas share. */}}
{{- define "queuefleet.operator.peeringName" -}}
{{- if eq .Values.operator.watchScope "cluster" -}}
{{- include "queuefleet.clusterName" (list . "operator") -}}
{{- else -}}
{{- include "queuefleet.componentName" (list . "operator") -}}
{{- end -}}
{{- end -}}

{{/*
Egress every restricted pod needs: the cluster DNS and the Temporal frontend (the server's
pods in dev mode, networkPolicy.egress.temporalCidrs on the external address's port otherwise).
*/}}
{{- define "queuefleet.networkPolicy.egressBase" -}}
{{- $egress := .Values.networkPolicy.egress -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $egress.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml $egress.dns.podLabels | nindent 10 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- if eq .Values.temporal.mode "dev" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "queuefleet.componentSelectorLabels" (list . "temporal") | nindent 10 }}
  ports:
    - port: {{ .Values.temporal.server.grpcPort }}
      protocol: TCP
{{- else }}
- to:
    {{- range $egress.temporalCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: {{ splitList ":" .Values.temporal.external.address | last | int }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/*
Public URL of the Web UI: temporal.ui.publicUrl, else the first ingress host (https when the
Ingress has TLS), else empty (port-forwarding).
*/}}
{{- define "queuefleet.ui.publicUrl" -}}
{{- $ui := .Values.temporal.ui -}}
{{- if $ui.publicUrl -}}
{{- $ui.publicUrl -}}
{{- else if and $ui.ingress.enabled $ui.ingress.hosts -}}
{{- printf "%s://%s%s" (ternary "https" "http" (not (empty $ui.ingress.tls))) (first $ui.ingress.hosts) (trimSuffix "/" $ui.ingress.path) -}}
{{- end -}}
{{- end -}}
