"""A local Kubernetes control plane for the real engine: build (build.sh), run (controlplane.py), and
what a stack needs in it before `pulumi up` (stack.py: its pools' fake nodes, its CRDs, the namespaces
it expects to exist)."""
