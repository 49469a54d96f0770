//! `photonctl net`: VPCs, subnets and addresses in photonnet, over its
//! gRPC API, as the operator (admin token, `--tenant` named) or as a
//! tenant (a token from `photonctl auth token --audience photonnet`).
//!
//! ```text
//! export PHOTONNET_TOKEN=...               # or --token-file PATH; never a flag value
//! photonctl net --endpoint http://net:50052 vpc create --tenant acme prod --cidr 10.0.0.0/16
//! photonctl net --endpoint ... subnet create --tenant acme --vpc prod web --cidr 10.0.1.0/24
//! photonctl net --endpoint ... allocate --tenant acme --vpc prod --subnet web --name web-1
//! photonctl net --endpoint ... release --tenant acme --vpc prod --subnet web 10.0.1.7
//! photonctl net --endpoint ... allocations --tenant acme --vpc prod --subnet web
//! ```

use std::path::PathBuf;

use clap::{Args, Subcommand};
use photonnet::api::proto::photon_net_client::PhotonNetClient;
use photonnet::api::proto::*;

use crate::Report;
use crate::auth::authed;

/// Where photonnet is and who is calling.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// photonnet's gRPC URL, such as http://net:50052.
    #[arg(long, env = "PHOTONNET_ENDPOINT")]
    endpoint: String,
    /// A file holding the token (else `PHOTONNET_TOKEN`): the admin token,
    /// or a tenant's photonauth token for photonnet.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The tenant acted for: required with the admin token; a tenant's
    /// token acts for its own.
    #[arg(long, global = true, default_value = "")]
    tenant: String,
    #[command(subcommand)]
    command: NetCommand,
}

/// What `photonctl net` does.
#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// VPCs.
    Vpc {
        #[command(subcommand)]
        command: VpcCommand,
    },
    /// A VPC's subnets.
    Subnet {
        #[command(subcommand)]
        command: SubnetCommand,
    },
    /// Allocates an address of a subnet (any free one, or `--address`).
    Allocate {
        /// The VPC.
        #[arg(long)]
        vpc: String,
        /// The subnet.
        #[arg(long)]
        subnet: String,
        /// A name for it in the VPC (and in DNS).
        #[arg(long, default_value = "")]
        name: String,
        /// This address rather than any free one.
        #[arg(long, default_value = "")]
        address: String,
    },
    /// Releases an allocated address.
    Release {
        /// The VPC.
        #[arg(long)]
        vpc: String,
        /// The subnet.
        #[arg(long)]
        subnet: String,
        /// The address.
        address: String,
    },
    /// Lists a subnet's allocated addresses.
    Allocations {
        /// The VPC.
        #[arg(long)]
        vpc: String,
        /// The subnet.
        #[arg(long)]
        subnet: String,
    },
}

/// `vpc ...`.
#[derive(Debug, Subcommand)]
pub enum VpcCommand {
    /// Creates a VPC.
    Create {
        /// Its name (a DNS label).
        name: String,
        /// Its IPv4 range, such as 10.0.0.0/16.
        #[arg(long)]
        cidr: String,
    },
    /// Lists the tenant's VPCs.
    List,
    /// Deletes a VPC with no subnets.
    Delete {
        /// Its name.
        name: String,
    },
}

/// `subnet ...`.
#[derive(Debug, Subcommand)]
pub enum SubnetCommand {
    /// Creates a subnet inside the VPC's range, overlapping none other.
    Create {
        /// The VPC.
        #[arg(long)]
        vpc: String,
        /// Its name (a DNS label).
        name: String,
        /// Its IPv4 range, such as 10.0.1.0/24.
        #[arg(long)]
        cidr: String,
    },
    /// Lists a VPC's subnets, with their free addresses.
    List {
        /// The VPC.
        #[arg(long)]
        vpc: String,
    },
    /// Deletes a subnet with no allocations.
    Delete {
        /// The VPC.
        #[arg(long)]
        vpc: String,
        /// Its name.
        name: String,
    },
}

/// The token: from `token_file` if given, else `PHOTONNET_TOKEN`.
fn token(token_file: Option<&std::path::Path>) -> Result<String, String> {
    crate::read_token(token_file, "PHOTONNET_TOKEN", "the token")
}

fn failed(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

fn allocation_line(a: &Allocation) -> String {
    let named = match (a.name.as_str(), a.fqdn.as_str()) {
        ("", _) => String::new(),
        (name, "") => format!(" {name}"),
        (_, fqdn) => format!(" {fqdn}"),
    };
    format!("{}{named}\n", a.address)
}

/// Runs `args`.
pub async fn run(args: NetArgs) -> Result<Report, String> {
    let token = token(args.token_file.as_deref())?;
    let mut client = PhotonNetClient::connect(args.endpoint.clone())
        .await
        .map_err(|e| format!("photonnet at {} cannot be reached: {e}", args.endpoint))?;
    let bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}")
        .parse()
        .map_err(|_| "the token is not a valid header value".to_owned())?;
    let tenant = args.tenant;
    let text = match args.command {
        NetCommand::Vpc {
            command: VpcCommand::Create { name, cidr },
        } => {
            let vpc = client
                .create_vpc(authed(CreateVpcRequest { tenant, name, cidr }, &bearer))
                .await
                .map_err(failed)?
                .into_inner();
            format!("VPC {} of {} created: {}\n", vpc.name, vpc.tenant, vpc.cidr)
        }
        NetCommand::Vpc {
            command: VpcCommand::List,
        } => client
            .list_vpcs(authed(ListVpcsRequest { tenant }, &bearer))
            .await
            .map_err(failed)?
            .into_inner()
            .vpcs
            .iter()
            .map(|v| format!("{} {}\n", v.name, v.cidr))
            .collect(),
        NetCommand::Vpc {
            command: VpcCommand::Delete { name },
        } => {
            client
                .delete_vpc(authed(
                    DeleteVpcRequest {
                        tenant,
                        name: name.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("VPC {name} deleted\n")
        }
        NetCommand::Subnet {
            command: SubnetCommand::Create { vpc, name, cidr },
        } => {
            let subnet = client
                .create_subnet(authed(
                    CreateSubnetRequest {
                        tenant,
                        vpc,
                        name,
                        cidr,
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?
                .into_inner();
            format!(
                "subnet {} created: {}, gateway {}, {} free\n",
                subnet.name, subnet.cidr, subnet.gateway, subnet.free
            )
        }
        NetCommand::Subnet {
            command: SubnetCommand::List { vpc },
        } => client
            .list_subnets(authed(ListSubnetsRequest { tenant, vpc }, &bearer))
            .await
            .map_err(failed)?
            .into_inner()
            .subnets
            .iter()
            .map(|s| {
                format!(
                    "{} {} gateway {} free {}\n",
                    s.name, s.cidr, s.gateway, s.free
                )
            })
            .collect(),
        NetCommand::Subnet {
            command: SubnetCommand::Delete { vpc, name },
        } => {
            client
                .delete_subnet(authed(
                    DeleteSubnetRequest {
                        tenant,
                        vpc,
                        name: name.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("subnet {name} deleted\n")
        }
        NetCommand::Allocate {
            vpc,
            subnet,
            name,
            address,
        } => {
            let allocation = client
                .allocate(authed(
                    AllocateRequest {
                        tenant,
                        vpc,
                        subnet,
                        name,
                        address,
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?
                .into_inner();
            allocation_line(&allocation)
        }
        NetCommand::Release {
            vpc,
            subnet,
            address,
        } => {
            client
                .release(authed(
                    ReleaseRequest {
                        tenant,
                        vpc,
                        subnet,
                        address: address.clone(),
                    },
                    &bearer,
                ))
                .await
                .map_err(failed)?;
            format!("{address} released\n")
        }
        NetCommand::Allocations { vpc, subnet } => client
            .list_allocations(authed(
                ListAllocationsRequest {
                    tenant,
                    vpc,
                    subnet,
                },
                &bearer,
            ))
            .await
            .map_err(failed)?
            .into_inner()
            .allocations
            .iter()
            .map(allocation_line)
            .collect(),
    };
    Ok(Report {
        text,
        all_well: true,
    })
}
