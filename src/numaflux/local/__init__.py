"""The local cluster: API server, kubelet and controller manager as background processes on this machine."""
