"""Local stand-ins for the apps/v1 controllers (Deployment, StatefulSet), so that workloads run on the
local kubelet. On a real cluster Kubernetes' own controllers do this and these are not registered."""
