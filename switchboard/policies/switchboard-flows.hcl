# Switchboard's flows (the `switchboard-flows` AppRole): keep OAuth tokens fresh.
#
# KV v2 mount `secret`, base path `switchboard` (the defaults). `switchboard vault` rewrites both
# prefixes when installing this policy for another mount or base path. No delete or destroy:
# records are replaced with check-and-set, never removed.
#
# Operators write client definitions, seeds and OAuth 1 keys; the flows only read them.
path "secret/data/switchboard/credentials/+/client" {
  capabilities = ["read"]
}

path "secret/data/switchboard/credentials/+/seed" {
  capabilities = ["read"]
}

# A seed version is marked consumed in the seed's own custom metadata before it is spent, so
# deleting the token or refresh record never makes a spent seed look new. Only that field.
path "secret/metadata/switchboard/credentials/+/seed" {
  capabilities = ["read", "patch"]
  allowed_parameters = {
    "custom_metadata" = []
  }
}

path "secret/data/switchboard/oauth1/+" {
  capabilities = ["read"]
}

# Written only by Switchboard: the access token (consumers read it), the refresh token with its
# refresh intent (nobody else may read it) and the health record.
path "secret/data/switchboard/credentials/+/token" {
  capabilities = ["create", "read", "update"]
}

path "secret/data/switchboard/credentials/+/refresh" {
  capabilities = ["create", "read", "update"]
}

path "secret/data/switchboard/credentials/+/health" {
  capabilities = ["create", "read", "update"]
}

# The current version of a soft-deleted record, which a check-and-set write must name.
path "secret/metadata/switchboard/credentials/+/+" {
  capabilities = ["read"]
}

# Discovery: list the credential names.
path "secret/metadata/switchboard/credentials/" {
  capabilities = ["list"]
}

# The Vault client token renews itself before it expires, and checks itself loudly at start.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
