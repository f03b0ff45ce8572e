// Command pulumi-resource-kubernetes serves the published Kubernetes provider.
//
// The upstream main embeds files generated at release time that the module
// zip does not carry; this wrapper embeds the same data, regenerated from the
// module's committed schema.json and terraform-mapping.json by build.sh.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
