//! `photonctl auth`: the operator's side of photonauth (tenants, users,
//! access keys, policies, roles), over its gRPC API.
//!
//! ```text
//! export PHOTONAUTH_ADMIN_TOKEN=...        # or --token-file PATH; never a flag value
//! photonctl auth --endpoint http://auth:50051 tenant create acme
//! photonctl auth --endpoint ... user create --tenant acme alice
//! photonctl auth --endpoint ... policy put --tenant acme --name photos-read --file read.json
//! photonctl auth --endpoint ... policy attach --tenant acme --user alice --policy photos-read
//! photonctl auth --endpoint ... role create --tenant acme readers
//! photonctl auth --endpoint ... role attach --tenant acme --role readers --policy photos-read
//! photonctl auth --endpoint ... role grant --tenant acme --role readers --user bob
//! photonctl auth --endpoint ... key create --tenant acme --user alice --description laptop
//! photonctl auth --endpoint ... authorize --key PK... --action s3:GetObject --resource photos/a.jpg
//! ```

use std::path::PathBuf;

use clap::{Args, Subcommand};
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;
use photonauth::api::proto::*;

use crate::Report;

/// Where photonauth is and how to prove being its operator.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// photonauth's gRPC URL, such as http://auth:50051.
    #[arg(long, env = "PHOTONAUTH_ENDPOINT")]
    endpoint: String,
    /// A file holding the admin token (else `PHOTONAUTH_ADMIN_TOKEN`).
    #[arg(long)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: AuthCommand,
}

/// What `photonctl auth` does.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// A tenant's users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Access keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// A tenant's policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// A tenant's roles: named sets of policies given to users together.
    Role {
        #[command(subcommand)]
        command: RoleCommand,
    },
    /// A token for calling another service as a tenant's key (photonnet),
    /// got from photonauth by signing with the key's secret (read from
    /// `PHOTONAUTH_SECRET_KEY` or `--secret-file`; it never leaves this
    /// machine). Needs no admin token; prints the token.
    Token {
        /// The access key id.
        #[arg(long)]
        key: String,
        /// The service the token is for, such as `photonnet`.
        #[arg(long)]
        audience: String,
        /// How long it is good for, in seconds (at most 3600).
        #[arg(long, default_value_t = 900)]
        ttl_seconds: u32,
        /// A file holding the key's secret.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Whether a key may do an action on a resource, and why.
    Authorize {
        /// The access key id.
        #[arg(long)]
        key: String,
        /// Such as `s3:GetObject`.
        #[arg(long)]
        action: String,
        /// A name in the key's tenant, such as `photos/a.jpg`.
        #[arg(long)]
        resource: String,
    },
}

/// `tenant ...`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Creates a tenant.
    Create {
        /// Its name.
        name: String,
    },
    /// Lists the tenants.
    List,
}

/// `user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a user.
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The user's name.
        name: String,
    },
    /// Lists a tenant's users.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
}

/// `key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Makes an access key; prints its id and secret (shown this once).
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The user.
        #[arg(long)]
        user: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Lists a tenant's keys (never their secrets).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Revokes a key.
    Revoke {
        /// The access key id.
        id: String,
    },
}

/// `policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Stores a policy document (JSON) under a name, replacing one.
    Put {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The policy's name.
        #[arg(long)]
        name: String,
        /// The document.
        #[arg(long)]
        file: PathBuf,
    },
    /// Attaches a policy to a user.
    Attach {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The user.
        #[arg(long)]
        user: String,
        /// The policy.
        #[arg(long)]
        policy: String,
    },
    /// Detaches it.
    Detach {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The user.
        #[arg(long)]
        user: String,
        /// The policy.
        #[arg(long)]
        policy: String,
    },
}

/// `role ...`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Creates a role.
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The role's name.
        name: String,
    },
    /// Lists a tenant's roles.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Attaches a policy to a role.
    Attach {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The policy.
        #[arg(long)]
        policy: String,
    },
    /// Detaches it.
    Detach {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The policy.
        #[arg(long)]
        policy: String,
    },
    /// Gives a user a role.
    Grant {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Takes it back.
    Revoke {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The user.
        #[arg(long)]
        user: String,
    },
}

fn token(args: &AuthArgs) -> Result<String, String> {
    admin_token(args.token_file.as_deref())
}

/// The admin token: from `token_file` if given, else
/// `PHOTONAUTH_ADMIN_TOKEN` (never a flag value, which `ps` would show).
pub(crate) fn admin_token(token_file: Option<&std::path::Path>) -> Result<String, String> {
    crate::read_token(token_file, "PHOTONAUTH_ADMIN_TOKEN", "the admin token")
}

/// A gRPC failure, said as the server said it.
fn failed(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// A tenant's token for `audience`, signed for with the key's secret.
async fn key_token(
    client: &mut PhotonAuthClient<tonic::transport::Channel>,
    key: &str,
    audience: &str,
    ttl_seconds: u32,
    secret_file: Option<&std::path::Path>,
) -> Result<String, String> {
    let secret = match secret_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| t.trim_end().to_owned())
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => std::env::var("PHOTONAUTH_SECRET_KEY").map_err(|_| {
            "give the key's secret in PHOTONAUTH_SECRET_KEY or --secret-file (never as a flag value)"
                .to_owned()
        })?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("the clock: {e}"))?
        .as_secs();
    let now = i64::try_from(now).map_err(|_| "the clock is past 2^63 s".to_owned())?;
    let request = photonauth::key_token::request(key, &secret, audience, ttl_seconds, now);
    let answer = client
        .key_token(request)
        .await
        .map_err(failed)?
        .into_inner();
    Ok(format!(
        "{}
",
        answer.token
    ))
}

/// Runs `args`.
pub async fn run(args: AuthArgs) -> Result<Report, String> {
    let mut client = PhotonAuthClient::connect(args.endpoint.clone())
        .await
        .map_err(|e| format!("photonauth at {} cannot be reached: {e}", args.endpoint))?;
    if let AuthCommand::Token {
        key,
        audience,
        ttl_seconds,
        secret_file,
    } = &args.command
    {
        let text = key_token(
            &mut client,
            key,
            audience,
            *ttl_seconds,
            secret_file.as_deref(),
        )
        .await?;
        return Ok(Report {
            text,
            all_well: true,
        });
    }
    let token = token(&args)?;
    let bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| "the admin token is not a valid header value".to_owned())?;
    let text = match args.command {
        AuthCommand::Tenant {
            command: TenantCommand::Create { name },
        } => {
            client
                .create_tenant(authed(
                    CreateTenantRequest {
                        tenant: name.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("tenant {name} created\n")
        }
        AuthCommand::Tenant {
            command: TenantCommand::List,
        } => lines(
            client
                .list_tenants(authed(ListTenantsRequest {}, &bearer))
                .await
                .map_err(failed)?
                .into_inner()
                .tenants,
        ),
        AuthCommand::User {
            command: UserCommand::Create { tenant, name },
        } => {
            client
                .create_user(authed(
                    CreateUserRequest {
                        tenant: tenant.clone(),
                        user: name.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("user {name} of {tenant} created\n")
        }
        AuthCommand::User {
            command: UserCommand::List { tenant },
        } => lines(
            client
                .list_users(authed(ListUsersRequest { tenant }, &bearer))
                .await
                .map_err(failed)?
                .into_inner()
                .users,
        ),
        AuthCommand::Key {
            command:
                KeyCommand::Create {
                    tenant,
                    user,
                    description,
                },
        } => {
            let key = client
                .create_access_key(authed(
                    CreateAccessKeyRequest {
                        tenant,
                        user,
                        description,
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?
                .into_inner();
            format!(
                "access_key_id = {}\nsecret_access_key = {}\n",
                key.access_key_id, key.secret_access_key
            )
        }
        AuthCommand::Key {
            command: KeyCommand::List { tenant },
        } => client
            .list_access_keys(authed(ListAccessKeysRequest { tenant }, &bearer))
            .await
            .map_err(failed)?
            .into_inner()
            .keys
            .into_iter()
            .map(|k| format!("{}  {}  {}\n", k.access_key_id, k.user, k.description))
            .collect(),
        AuthCommand::Key {
            command: KeyCommand::Revoke { id },
        } => {
            client
                .revoke_access_key(authed(
                    RevokeAccessKeyRequest {
                        access_key_id: id.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("access key {id} revoked\n")
        }
        AuthCommand::Policy {
            command: PolicyCommand::Put { tenant, name, file },
        } => {
            let document =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            client
                .put_policy(authed(
                    PutPolicyRequest {
                        tenant: tenant.clone(),
                        name: name.clone(),
                        document,
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("policy {name} of {tenant} stored\n")
        }
        AuthCommand::Policy {
            command:
                PolicyCommand::Attach {
                    tenant,
                    user,
                    policy,
                },
        } => {
            client
                .attach_policy(authed(
                    AttachPolicyRequest {
                        tenant: tenant.clone(),
                        user: user.clone(),
                        policy: policy.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("policy {policy} attached to {user} of {tenant}\n")
        }
        AuthCommand::Policy {
            command:
                PolicyCommand::Detach {
                    tenant,
                    user,
                    policy,
                },
        } => {
            client
                .detach_policy(authed(
                    DetachPolicyRequest {
                        tenant: tenant.clone(),
                        user: user.clone(),
                        policy: policy.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("policy {policy} detached from {user} of {tenant}\n")
        }
        AuthCommand::Role { command } => role(&mut client, &bearer, command).await?,
        AuthCommand::Token { .. } => unreachable!("answered above, without the admin token"),
        AuthCommand::Authorize {
            key,
            action,
            resource,
        } => {
            let answer = client
                .authorize(authed(
                    AuthorizeRequest {
                        access_key_id: key,
                        action: action.clone(),
                        resource: resource.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?
                .into_inner();
            let verdict = if answer.allowed { "allowed" } else { "denied " };
            let text = format!(
                "{verdict} {action} on {resource} for {} of {}: {}\n",
                answer.user, answer.tenant, answer.reason
            );
            return Ok(Report {
                text,
                all_well: answer.allowed,
            });
        }
    };
    Ok(Report {
        text,
        all_well: true,
    })
}

/// Runs `role ...`.
async fn role(
    client: &mut PhotonAuthClient<tonic::transport::Channel>,
    bearer: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    command: RoleCommand,
) -> Result<String, String> {
    Ok(match command {
        RoleCommand::Create { tenant, name } => {
            let request = CreateRoleRequest {
                tenant: tenant.clone(),
                role: name.clone(),
            };
            client
                .create_role(authed(request, bearer))
                .await
                .map_err(failed)?;
            format!("role {name} of {tenant} created\n")
        }
        RoleCommand::List { tenant } => lines(
            client
                .list_roles(authed(ListRolesRequest { tenant }, bearer))
                .await
                .map_err(failed)?
                .into_inner()
                .roles,
        ),
        RoleCommand::Attach {
            tenant,
            role,
            policy,
        } => {
            let text = format!("policy {policy} attached to role {role} of {tenant}\n");
            let request = AttachRolePolicyRequest {
                tenant,
                role,
                policy,
            };
            client
                .attach_role_policy(authed(request, bearer))
                .await
                .map_err(failed)?;
            text
        }
        RoleCommand::Detach {
            tenant,
            role,
            policy,
        } => {
            let text = format!("policy {policy} detached from role {role} of {tenant}\n");
            let request = DetachRolePolicyRequest {
                tenant,
                role,
                policy,
            };
            client
                .detach_role_policy(authed(request, bearer))
                .await
                .map_err(failed)?;
            text
        }
        RoleCommand::Grant { tenant, role, user } => {
            let text = format!("role {role} given to {user} of {tenant}\n");
            let request = GrantRoleRequest { tenant, user, role };
            client
                .grant_role(authed(request, bearer))
                .await
                .map_err(failed)?;
            text
        }
        RoleCommand::Revoke { tenant, role, user } => {
            let text = format!("role {role} taken from {user} of {tenant}\n");
            let request = RevokeRoleRequest { tenant, user, role };
            client
                .revoke_role(authed(request, bearer))
                .await
                .map_err(failed)?;
            text
        }
    })
}

/// `message` with the admin token.
pub(crate) fn authed<T>(
    message: T,
    bearer: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

fn lines(items: Vec<String>) -> String {
    items.into_iter().map(|i| i + "\n").collect()
}
