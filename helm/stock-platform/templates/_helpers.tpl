{{/* Release-scoped name; release `stock-platform` gives `stock-platform`. */}}
{{- define "stock-platform.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "stock-platform.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stock-platform
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Pods carrying this label may reach Kafka and Cassandra through the NetworkPolicies. The code server,
the run pods, the Spark executors, this chart's Jobs and Grafana carry it.
*/}}
{{- define "stock-platform.clientLabel" -}}
stock-platform/client: "true"
{{- end -}}

{{/* Where helm/values/dagster.yaml mounts the data volume and this chart's Spark configuration. */}}
{{- define "stock-platform.dataDir" -}}/var/lib/stock-platform{{- end -}}
{{- define "stock-platform.sparkConfDir" -}}/etc/stock-platform/spark{{- end -}}

{{/* repository:tag of an image value; a missing or floating tag fails the render. */}}
{{- define "stock-platform.imageRef" -}}
{{- if or (not .tag) (eq (toString .tag) "latest") -}}
{{- fail (printf "image %s needs a pinned tag (not empty, not latest)" .repository) -}}
{{- end -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}

{{- define "stock-platform.image" -}}
{{- include "stock-platform.imageRef" .Values.image -}}
{{- end -}}

{{- define "stock-platform.executorImage" -}}
{{- $executor := .Values.spark.kubernetes.executor.image -}}
{{- if $executor.repository -}}
{{- include "stock-platform.imageRef" $executor -}}
{{- else -}}
{{- include "stock-platform.image" . -}}
{{- end -}}
{{- end -}}

{{- define "stock-platform.kafkaBootstrapServers" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{- .Values.kafka.bootstrapServers -}}
{{- else if .Values.kafka.deploy.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc:9092" .Values.kafka.deploy.clusterName .Release.Namespace -}}
{{- else -}}
{{- fail "set kafka.bootstrapServers or enable kafka.deploy" -}}
{{- end -}}
{{- end -}}

{{/* cass-operator names the CQL service of a datacenter `<cluster>-<datacenter>-service`. */}}
{{- define "stock-platform.cassandraService" -}}
{{- printf "%s-%s-service.%s.svc" .Values.cassandra.deploy.clusterName .Values.cassandra.localDatacenter .Release.Namespace -}}
{{- end -}}

{{- define "stock-platform.cassandraContactPoints" -}}
{{- if .Values.cassandra.contactPoints -}}
{{- .Values.cassandra.contactPoints -}}
{{- else if .Values.cassandra.deploy.enabled -}}
{{- include "stock-platform.cassandraService" . -}}
{{- else -}}
{{- fail "set cassandra.contactPoints or enable cassandra.deploy" -}}
{{- end -}}
{{- end -}}

{{- define "stock-platform.grafanaUrl" -}}
{{- .Values.grafana.url | default (printf "http://grafana.%s.svc" .Release.Namespace) -}}
{{- end -}}

{{/* Partition replicas of the topics: bounded by the broker count of the self-contained cluster. */}}
{{- define "stock-platform.topicReplicationFactor" -}}
{{- if and .Values.kafka.deploy.enabled (not .Values.kafka.bootstrapServers) -}}
{{- min 3 .Values.kafka.deploy.nodes -}}
{{- else -}}
{{- .Values.kafka.topics.replicationFactor -}}
{{- end -}}
{{- end -}}

{{- define "stock-platform.cassandraDatacenters" -}}
{{- if .Values.cassandra.schema.datacenters -}}
{{- .Values.cassandra.schema.datacenters -}}
{{- else if and .Values.cassandra.deploy.enabled (not .Values.cassandra.contactPoints) -}}
{{- printf "%s:%d" .Values.cassandra.localDatacenter (min 3 .Values.cassandra.deploy.nodes | int) -}}
{{- else -}}
{{- fail "set cassandra.schema.datacenters (e.g. dc1:3) for an existing Cassandra cluster" -}}
{{- end -}}
{{- end -}}

{{/* An env entry read from a referenced Secret key. */}}
{{- define "stock-platform.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ (index . 1).name }}
      key: {{ (index . 1).key }}
{{- end -}}

{{/* Comma-separated names of a list of {name: ...} references. */}}
{{- define "stock-platform.secretNames" -}}
{{- $names := list -}}
{{- range . -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}
