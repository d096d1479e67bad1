{{/*
A Job of the `stock-platform` command, run after every install and upgrade. Arguments: the root
context, the Job's suffix, the command's arguments and a dict of env name -> secret reference.
Commands are idempotent, so re-running them on upgrade is safe; a Job is replaced, not patched.
*/}}
{{- define "stock-platform.setupJob" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $args := index . 2 -}}
{{- $secretEnv := index . 3 -}}
{{- $fullname := include "stock-platform.fullname" $ -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $fullname }}-{{ $name }}
  labels:
    {{- include "stock-platform.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: {{ $.Values.setupJobs.backoffLimit }}
  activeDeadlineSeconds: {{ $.Values.setupJobs.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ $.Values.setupJobs.ttlSecondsAfterFinished }}
  template:
    metadata:
      labels:
        {{- include "stock-platform.labels" $ | nindent 8 }}
        app.kubernetes.io/component: {{ $name }}
        {{- include "stock-platform.clientLabel" $ | nindent 8 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ $fullname }}
      automountServiceAccountToken: false
      securityContext:
        {{- toYaml $.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $name }}
          image: {{ include "stock-platform.image" $ | quote }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args:
            {{- toYaml $args | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ $fullname }}-env
          env:
            {{- range $envName, $ref := $secretEnv }}
            {{- include "stock-platform.secretEnv" (list $envName $ref) | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $.Values.setupJobs.resources | nindent 12 }}
          securityContext:
            {{- toYaml $.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
{{- end -}}
