"""Where benchmark commands run: the lab (network namespaces here) or a Kubernetes cluster."""
