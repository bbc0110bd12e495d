"""The sts service's GetCallerIdentity: who the calling key acts for (the Terraform provider's uin)."""
