// The client's dependency written as the server's port number again.
use echo::EchoClient;
use photon_dsl::prelude::*;

nodes! {
    pub Client = "client";
}

const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    echo: port!(8080),
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};

fn main() {}
