{{/* Name of the optional Kafka web UI's Deployment and Service (values `kafkaUi`). */}}
{{- define "stock-platform.kafkaUi.name" -}}
{{- printf "%s-kafka-ui" (include "stock-platform.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector of the UI's pods. Without the version labels of stock-platform.labels: a Deployment's selector
is immutable, so it must not change with the chart.
*/}}
{{- define "stock-platform.kafkaUi.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: kafka-ui
{{- end -}}

{{/*
Kafbat UI's connection to the platform's Kafka, as its environment (Spring binds
KAFKA_CLUSTERS_0_PROPERTIES_* to the Java client's properties): the same bootstrap servers, protocol
and SASL login as the platform (stock_platform/processing/jvm_kafka.py spells them for the Java client
the same way). The password stays in its Secret: Kubernetes substitutes $(KAFKA_SASL_PASSWORD), read
just before from the Secret, into the JAAS line when the container starts, so no manifest holds it.
Unlike the platform's own clients it cannot escape the password: one with `"`, `\` or `${` breaks
this login (Spring resolves ${...} placeholders in the value).
*/}}
{{- define "stock-platform.kafkaUi.kafkaEnv" -}}
{{- $kafka := .Values.kafka -}}
- name: KAFKA_CLUSTERS_0_NAME
  value: {{ .Values.kafkaUi.clusterName | quote }}
- name: KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS
  value: {{ include "stock-platform.kafkaBootstrapServers" . | quote }}
- name: KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- if $kafka.saslMechanism }}
{{- $module := ternary "org.apache.kafka.common.security.plain.PlainLoginModule" "org.apache.kafka.common.security.scram.ScramLoginModule" (eq (upper $kafka.saslMechanism) "PLAIN") }}
- name: KAFKA_CLUSTERS_0_PROPERTIES_SASL_MECHANISM
  value: {{ $kafka.saslMechanism | quote }}
{{ include "stock-platform.secretEnv" (list "KAFKA_SASL_PASSWORD" .Values.secrets.kafkaSaslPassword) }}
- name: KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG
  value: {{ printf "%s required username=\"%s\" password=\"$(KAFKA_SASL_PASSWORD)\";" $module (replace "\"" "\\\"" (toString $kafka.saslUsername)) | quote }}
{{- end }}
{{- end -}}
