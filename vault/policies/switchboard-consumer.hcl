# A service that uses Switchboard's tokens: it may read access tokens, nothing else.
#
# KV v2 mount `secret`, base path `switchboard` (the defaults). `python -m switchboard.admin`
# rewrites both prefixes when installing this policy for another mount or base path.
path "secret/data/switchboard/credentials/+/token" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
