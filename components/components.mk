# Targets of the Pulumi components and stacks (included by the top Makefile).
#
#   make e2e                     conformance: the stack on a real Kubernetes API server
#   make images STACK=local      build and push our images, set them in the stack
#   make up STACK=local          images, then pulumi up
#   make destroy STACK=local     pulumi destroy
#
# The registry is smartx:registry in stacks/Pulumi.$(STACK).yaml, or REGISTRY=...
# PULUMI_ARGS are extra flags of pulumi up and pulumi destroy (default none: pulumi
# asks before it changes anything, which a script cannot answer), for example
#   make up STACK=local PULUMI_ARGS="--yes --skip-preview"

STACK ?= local
REGISTRY ?= $(shell sed -n 's/^  smartx:registry: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' stacks/Pulumi.$(STACK).yaml 2>/dev/null)
PULUMI ?= pulumi
PULUMI_ARGS ?=

.PHONY: e2e images up destroy

e2e: ## conformance test: stack manifests server-side applied to etcd + kube-apiserver + kwok nodes
	@bash .ci/tools.sh etcd
	@bash .ci/tools.sh kubernetes
	@bash .ci/tools.sh kwok
	$(GO) test -count=1 -v -run 'TestConformance' ./stacks/e2e/

images: ## build every function image (amd64+arm64, no Docker), push to the stack's registry, set the digests in STACK
	@[ -n "$(REGISTRY)" ] || { echo "set smartx:registry in stacks/Pulumi.$(STACK).yaml or REGISTRY=host/path"; exit 1; }
	@bash .ci/tools.sh ko
	@bash .ci/tools.sh crane
	@set -o pipefail; mkdir -p dist && bash stacks/images/images.sh "$(REGISTRY)" | tee dist/images.$(STACK).txt
	@if command -v $(PULUMI) >/dev/null; then \
	  while read -r name ref; do $(PULUMI) config set --stack $(STACK) "smartx:$${name}Image" "$$ref"; done <dist/images.$(STACK).txt; \
	else echo "pulumi not found: set smartx:<name>Image in stacks/Pulumi.$(STACK).yaml to the references above"; fi

up: images ## pulumi up STACK (images first)
	$(PULUMI) up --stack $(STACK) $(PULUMI_ARGS)

destroy: ## pulumi destroy STACK
	$(PULUMI) destroy --stack $(STACK) $(PULUMI_ARGS)
