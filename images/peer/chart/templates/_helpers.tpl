{{/* Labels of every object of the release. */}}
{{- define "fabric-peer.labels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: fabric-peer-k8s
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The Pod's selector: what images/peer/deploy selects by. */}}
{{- define "fabric-peer.selector" -}}
app.kubernetes.io/name: {{ .Values.name }}
{{- end }}

{{/* A value of the environment: strings as they are, maps and lists as JSON. */}}
{{- define "fabric-peer.envValue" -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) }}{{ toJson . | quote }}{{ else }}{{ toString . | quote }}{{ end }}
{{- end }}
