//! The API gateway: tenants' HTTP/JSON API to PhotonCloud. A call
//! carries a photonauth token (or the operator's admin token); a resource
//! is asked of the resource manager once creditservice has reserved its
//! quota; every refusal is one documented JSON shape. The API is
//! described by `openapi.json` (checked in, served at `/openapi.json`).
//!
//! The [`spec`] half is what deployments and ui-tests compile against;
//! the `server` feature adds the HTTP server, the runtime's `Service` and
//! [`standalone`] (`api-gateway-server` from TOML).

pub mod spec;
pub use spec::ApiGateway;

#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod routes;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub mod standalone;
#[cfg(feature = "server")]
pub mod upstream;

/// The OpenAPI document of the gateway's API, as checked in.
#[cfg(feature = "server")]
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The audience photonauth tokens for the gateway name.
pub const AUDIENCE: &str = "api-gateway";

#[cfg(all(test, feature = "server"))]
mod document {
    //! The checked-in OpenAPI document against the code it describes.

    use resource_manager::model::Kind;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(crate::OPENAPI).expect("openapi.json is JSON")
    }

    #[test]
    fn every_kind_has_its_paths_and_its_example_spec_is_accepted() {
        let doc = document();
        for kind in Kind::ALL {
            let one = format!("/v1/tenants/{{tenant}}/resources/{kind}/{{name}}");
            let methods = &doc["paths"][&one];
            for method in ["put", "get", "delete"] {
                assert!(methods[method].is_object(), "{one} has no {method}");
            }
            let spec =
                methods["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or_else(|| panic!("{one}: PUT names no spec schema"));
            let example = doc["components"]["schemas"][spec]["example"].clone();
            assert!(example.is_object(), "{spec} has no example");
            kind.check(example)
                .unwrap_or_else(|e| panic!("{spec}'s example is refused: {e}"));
            let list = format!("/v1/tenants/{{tenant}}/resources/{kind}");
            assert!(doc["paths"][&list]["get"].is_object(), "{list}");
        }
        let documented: Vec<&str> = doc["components"]["schemas"]["Resource"]["properties"]["kind"]
            ["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(documented, kinds);
    }

    #[test]
    fn every_error_code_the_gateway_answers_is_documented() {
        use crate::error::ApiError;
        let doc = document();
        let codes: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
            ["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let status = |code| tonic::Status::new(code, "");
        let answered = [
            ApiError::invalid(""),
            ApiError::unauthenticated(""),
            ApiError::forbidden(""),
            ApiError::not_found(""),
            ApiError::method_not_allowed(""),
            ApiError::too_large(1),
            ApiError::not_json(None),
            ApiError::unavailable(""),
            ApiError::bad_gateway(""),
            ApiError::insufficient_credits(""),
            ApiError::from_upstream("x", &status(tonic::Code::Aborted)),
            ApiError::from_upstream("x", &status(tonic::Code::ResourceExhausted)),
        ];
        for e in answered {
            assert!(codes.contains(&e.code), "`{}` is not documented", e.code);
        }
    }
}
