//! How the CLI reaches a server: the options every subcommand that talks
//! to one shares, and the one function that turns them into a connection.
//!
//! Options that change how to connect (credentials, TLS) belong in
//! [`ServerArgs`] and are applied in [`connect`]; callers only hold a
//! [`Transport`], so they need not change.

use anyhow::Context;
use tonic::transport::{Channel, Endpoint};

/// The connection the gRPC clients of the CLI run over.
pub type Transport = Channel;

/// Where the server is, and how to talk to it.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// Server address: host:port (as rapportd's --listen takes it) or a URL
    /// such as http://host:port.
    #[arg(long, global = true, env = "RAPPORT_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: String,
}

/// A connection to the server `args` name.
pub async fn connect(args: &ServerArgs) -> anyhow::Result<Transport> {
    let endpoint = endpoint(&args.addr)?;
    endpoint.connect().await.with_context(|| format!("cannot reach rapport at {}", endpoint.uri()))
}

/// A plain connection to a server this process started itself (the bench's
/// servers), which needs none of [`ServerArgs`]' options.
pub async fn local(addr: &str) -> anyhow::Result<Channel> {
    let endpoint = endpoint(addr)?;
    endpoint.connect().await.with_context(|| format!("cannot reach rapport at {}", endpoint.uri()))
}

/// The endpoint for an address; `host:port` without a scheme means
/// `http://host:port`.
pub fn endpoint(addr: &str) -> anyhow::Result<Endpoint> {
    let url = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    Endpoint::from_shared(url).with_context(|| format!("invalid server address {addr:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_scheme_is_http() -> anyhow::Result<()> {
        assert_eq!(endpoint("127.0.0.1:50051")?.uri().to_string(), "http://127.0.0.1:50051/");
        assert_eq!(endpoint("localhost:7")?.uri().to_string(), "http://localhost:7/");
        assert_eq!(
            endpoint("https://rapport.example:443")?.uri().to_string(),
            "https://rapport.example:443/"
        );
        assert!(endpoint("127.0.0.1 50051").is_err());
        Ok(())
    }
}
