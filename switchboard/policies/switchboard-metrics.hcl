# `switchboard metrics` (the `switchboard-metrics` AppRole): it lists the credentials and reads
# their health records, nothing else. `.../health` holds expiries, state and failure counts and
# no secret; a process that listens on the network for scrapers never holds an identity that
# reads a client secret, seed, access or refresh token (`.../client`, `.../seed`, `.../token`,
# `.../refresh`).
#
# KV v2 mount `secret`, base path `switchboard` (the defaults). `switchboard vault` rewrites both
# prefixes when installing this policy for another mount or base path.
path "secret/data/switchboard/credentials/+/health" {
  capabilities = ["read"]
}

# Discovery: list the credential names.
path "secret/metadata/switchboard/credentials/" {
  capabilities = ["list"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
