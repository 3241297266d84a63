# Switchboard's flows (the `switchboard-flows` AppRole): keep OAuth tokens fresh.
#
# KV v2 mount `secret`, base path `switchboard` (the defaults). `python -m switchboard.admin`
# rewrites both prefixes when installing this policy for another mount or base path.
#
# Operators write client definitions, seeds and OAuth 1 keys; the flows only read them.
path "secret/data/switchboard/credentials/+/client" {
  capabilities = ["read"]
}

path "secret/data/switchboard/credentials/+/seed" {
  capabilities = ["read"]
}

path "secret/data/switchboard/oauth1/+" {
  capabilities = ["read"]
}

# Written only by Switchboard: the token pair, the health record and the single-flight lock.
path "secret/data/switchboard/credentials/+/token" {
  capabilities = ["create", "read", "update"]
}

path "secret/data/switchboard/credentials/+/health" {
  capabilities = ["create", "read", "update"]
}

# The lock is released by writing an expired lease (check-and-set), never deleted.
path "secret/data/switchboard/credentials/+/lock" {
  capabilities = ["create", "read", "update"]
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
