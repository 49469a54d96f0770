use photon_dsl::nodes;

nodes! {
    pub Web = "Web Server 1";
}

fn main() {}
