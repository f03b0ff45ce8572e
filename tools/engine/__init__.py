"""The offline Pulumi engine: build (build.sh), run (pulumi.sh) and the pack config it runs with."""
