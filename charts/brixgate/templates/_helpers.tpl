{{- define "brixgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "brixgate.fullname" -}}
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

{{- define "brixgate.labels" -}}
app.kubernetes.io/name: {{ include "brixgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "brixgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "brixgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "brixgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "brixgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* Refuses values that would deploy a broken or misleading gateway, with the fix in the message. */ -}}
{{- define "brixgate.validate" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository is required: build the image (docker build -t REPO:TAG .), push it or load it into the cluster, then --set image.repository=REPO --set image.tag=TAG" -}}
{{- end -}}
{{- $store := dig "rateLimit" "store" "memory" .Values.config -}}
{{- if and (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) (ne $store "redis") -}}
{{- fail "more than one gateway replica with config.rateLimit.store: memory would let every replica enforce each user's limits alone (multiplying them): set config.rateLimit.store: redis with config.rateLimit.redis.url, or replicaCount: 1 without autoscaling" -}}
{{- end -}}
{{- end -}}
