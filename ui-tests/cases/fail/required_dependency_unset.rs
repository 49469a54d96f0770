// The echo client built without the server it must poll.
use echo::EchoClient;
use photon_dsl::prelude::*;

nodes! {
    pub Client = "client";
}

const CLIENT: EchoClient<Client> = EchoClient {
    node: Client,
    test_message: "dolly",
    poll_interval: Duration::from_secs(1),
    token: None,
};

fn main() {}
