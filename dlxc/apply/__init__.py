"""The declarative workflow above the API: manifests, diff, apply and prune, GitOps sync."""
