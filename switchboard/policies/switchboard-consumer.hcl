# A service that uses Switchboard's tokens: it may read access tokens, nothing else. `.../token`
# holds the access token, its type, expiry and scope: no refresh token, which lives in
# `.../refresh` where only the flows can read it.
#
# KV v2 mount `secret`, base path `switchboard` (the defaults). `switchboard vault` rewrites both
# prefixes when installing this policy for another mount or base path. For a service that needs
# only some credentials: `switchboard vault consumer-policy NAME --credential A ...`.
path "secret/data/switchboard/credentials/+/token" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
