package kubelet

import (
	"context"
	"testing"
)

// TestNodeRuntimeHandlers: the node's status lists the runtime's handlers
// and their features, as the runtime's Status reports them.
func TestNodeRuntimeHandlers(t *testing.T) {
	tk := newTestKubelet(t)
	node, err := tk.nodeObject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := node.Status.RuntimeHandlers
	if len(h) != 1 || h[0].Name != "" || h[0].Features == nil || h[0].Features.RecursiveReadOnlyMounts == nil || !*h[0].Features.RecursiveReadOnlyMounts ||
		h[0].Features.UserNamespaces == nil || *h[0].Features.UserNamespaces {
		t.Errorf("runtimeHandlers %+v: want the default handler with recursive read-only mounts and no user namespaces", h)
	}
}
