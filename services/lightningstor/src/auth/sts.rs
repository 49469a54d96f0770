//! STS `AssumeRole` on the S3 port, as MinIO and Ceph's RGW offer it: an
//! authenticated key asks for temporary credentials (access key, secret,
//! session token, expiry) and the S3 API accepts them until they expire or
//! their parent key is revoked.
//!
//! There are no IAM policies here: a session has its parent's rights, so a
//! request that asks to narrow them (`Policy`, `PolicyArns`) is refused
//! rather than silently given more than it asked for.

use hyper::{HeaderMap, Method, StatusCode, Uri, header};
use s3s::dto::{AssumeRoleOutput, AssumedRoleUser, Credentials};
use s3s::route::S3Route;
use s3s::xml::{SerResult, SerializeContent, Serializer};
use s3s::{Body, S3Request, S3Response, S3Result};

use super::{KeyError, KeyRing};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";
/// STS form bodies are a few hundred bytes; s3s has already read (and
/// hashed) this one to check its signature.
const MAX_FORM_BYTES: usize = 64 * 1024;
const DEFAULT_SECONDS: u32 = 3600;
const MIN_SECONDS: u32 = 900;
const MAX_SECONDS: u32 = 43_200;

/// The route that answers STS requests (form posts to `/`).
#[derive(Debug, Clone)]
pub struct StsRoute {
    keys: KeyRing,
}

impl StsRoute {
    /// STS over `keys`.
    pub fn new(keys: KeyRing) -> Self {
        StsRoute { keys }
    }
}

/// An STS error: its code and message, sent in STS's own error document.
#[derive(Debug)]
struct StsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl StsError {
    fn sender(code: &'static str, message: impl Into<String>) -> Self {
        StsError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }
}

impl From<KeyError> for StsError {
    fn from(error: KeyError) -> Self {
        if let KeyError::CheckedByPhotonAuth = error {
            return StsError {
                status: StatusCode::FORBIDDEN,
                code: "AccessDenied",
                message: "Temporary credentials are not issued here: access keys are photonauth's."
                    .into(),
            };
        }
        tracing::error!(error = %error, "STS could not issue credentials");
        StsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: "The request processing has failed because of an internal error.".into(),
        }
    }
}

/// A validated `AssumeRole` request.
#[derive(Debug, PartialEq)]
struct AssumeRole {
    role_arn: String,
    session_name: String,
    seconds: u32,
}

fn parse(form: &[u8]) -> Result<AssumeRole, StsError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(form)
        .map_err(|e| StsError::sender("MalformedInput", format!("the form body: {e}")))?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let required = |name: &str| {
        field(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| StsError::sender("MissingParameter", format!("`{name}` must be given")))
    };
    let action = required("Action")?;
    let version = required("Version")?;
    if action != "AssumeRole" || version != VERSION {
        return Err(StsError::sender(
            "InvalidAction",
            format!(
                "Could not find operation {action} for version {version} (this server offers AssumeRole, {VERSION})"
            ),
        ));
    }
    if fields
        .iter()
        .any(|(k, _)| k == "Policy" || k.starts_with("PolicyArns."))
    {
        return Err(StsError::sender(
            "ValidationError",
            "Session policies (Policy, PolicyArns) are not supported: a session has exactly the rights of the key that asked for it",
        ));
    }
    let role_arn = required("RoleArn")?;
    if role_arn.len() > 2048 {
        return Err(StsError::sender(
            "ValidationError",
            "`RoleArn` must be at most 2048 characters",
        ));
    }
    let session_name = required("RoleSessionName")?;
    let name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !name_ok {
        return Err(StsError::sender(
            "ValidationError",
            "`RoleSessionName` must be 2 to 64 letters, digits or any of _+=,.@-",
        ));
    }
    let seconds = match field("DurationSeconds") {
        None => DEFAULT_SECONDS,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|s| (MIN_SECONDS..=MAX_SECONDS).contains(s))
            .ok_or_else(|| {
                StsError::sender(
                    "ValidationError",
                    format!(
                        "`DurationSeconds` must be a whole number from {MIN_SECONDS} to {MAX_SECONDS}, not {text:?}"
                    ),
                )
            })?,
    };
    Ok(AssumeRole {
        role_arn: role_arn.to_owned(),
        session_name: session_name.to_owned(),
        seconds,
    })
}

fn xml_response(
    status: StatusCode,
    write: impl FnOnce(&mut Serializer<&mut Vec<u8>>) -> SerResult,
) -> S3Response<Body> {
    let mut buf = Vec::new();
    let mut ser = Serializer::new(&mut buf);
    // Writing to a Vec fails only on a serializer bug.
    if let Err(e) = ser.decl().and_then(|()| write(&mut ser)) {
        tracing::error!(error = ?e, "STS response did not serialise");
    }
    let mut response = S3Response::new(Body::from(buf));
    response.status = Some(status);
    response.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/xml"),
    );
    response
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn error_response(error: &StsError) -> S3Response<Body> {
    xml_response(error.status, |s| {
        s.element_with_ns("ErrorResponse", NAMESPACE, |s| {
            s.element("Error", |s| {
                let kind = if error.status.is_server_error() {
                    "Receiver"
                } else {
                    "Sender"
                };
                s.content("Type", kind)?;
                s.content("Code", error.code)?;
                s.content("Message", &error.message)
            })?;
            s.content("RequestId", &request_id())
        })
    })
}

impl StsRoute {
    async fn assume_role(&self, caller: &str, form: &[u8]) -> Result<S3Response<Body>, StsError> {
        let request = parse(form)?;
        let issued = self
            .keys
            .issue_session(
                caller,
                &request.role_arn,
                &request.session_name,
                request.seconds,
            )
            .await?;
        let session = issued
            .record
            .session
            .as_ref()
            .expect("issue_session makes a session");
        let role = request
            .role_arn
            .rsplit('/')
            .next()
            .unwrap_or(&request.role_arn);
        let output = AssumeRoleOutput {
            assumed_role_user: Some(AssumedRoleUser {
                arn: format!(
                    "arn:aws:sts::lightningstor:assumed-role/{role}/{}",
                    request.session_name
                ),
                assumed_role_id: format!("{}:{}", issued.id, request.session_name),
            }),
            credentials: Some(Credentials {
                access_key_id: issued.id.clone(),
                expiration: crate::s3::timestamp(session.expires_ms),
                secret_access_key: issued.secret.clone(),
                session_token: session.token.clone(),
            }),
            ..Default::default()
        };
        tracing::info!(
            parent = caller,
            key = %issued.id,
            role = %request.role_arn,
            session = %request.session_name,
            seconds = request.seconds,
            "issued temporary credentials"
        );
        Ok(xml_response(StatusCode::OK, |s| {
            s.element_with_ns("AssumeRoleResponse", NAMESPACE, |s| {
                s.element("AssumeRoleResult", |s| output.serialize_content(s))?;
                s.element("ResponseMetadata", |s| {
                    s.content("RequestId", &request_id())
                })
            })
        }))
    }
}

#[async_trait::async_trait]
impl S3Route for StsRoute {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        _: &mut hyper::http::Extensions,
    ) -> bool {
        method == Method::POST
            && uri.path() == "/"
            && headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        self.keys
            .check_request(req.credentials.as_ref(), &req.headers, &req.uri)
            .await
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let caller = req
            .credentials
            .as_ref()
            .map(|c| c.access_key.clone())
            .unwrap_or_default();
        let form = match req.input.store_all_limited(MAX_FORM_BYTES).await {
            Ok(form) => form,
            Err(e) => {
                return Ok(error_response(&StsError::sender(
                    "MalformedInput",
                    format!("the form body could not be read: {e}"),
                )));
            }
        };
        Ok(self
            .assume_role(&caller, &form)
            .await
            .unwrap_or_else(|e| error_response(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(extra: &str) -> Vec<u8> {
        format!("Action=AssumeRole&Version=2011-06-15{extra}").into_bytes()
    }

    #[test]
    fn a_full_request_parses_with_defaults() {
        let parsed = parse(&form(
            "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fops&RoleSessionName=ci-run",
        ))
        .unwrap();
        assert_eq!(
            parsed,
            AssumeRole {
                role_arn: "arn:aws:iam::1:role/ops".into(),
                session_name: "ci-run".into(),
                seconds: DEFAULT_SECONDS,
            }
        );
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        let code = |body: &[u8]| parse(body).unwrap_err().code;
        assert_eq!(code(b"Version=2011-06-15"), "MissingParameter");
        assert_eq!(
            code(b"Action=GetCallerIdentity&Version=2011-06-15"),
            "InvalidAction"
        );
        assert_eq!(code(&form("&RoleSessionName=abc")), "MissingParameter");
        assert_eq!(
            code(&form("&RoleArn=r&RoleSessionName=a")),
            "ValidationError"
        );
        assert_eq!(
            code(&form("&RoleArn=r&RoleSessionName=has%20space")),
            "ValidationError"
        );
        assert_eq!(
            code(&form("&RoleArn=r&RoleSessionName=ab&DurationSeconds=60")),
            "ValidationError"
        );
        assert_eq!(
            code(&form("&RoleArn=r&RoleSessionName=ab&Policy=%7B%7D")),
            "ValidationError"
        );
        let err = parse(&form("&RoleArn=r&RoleSessionName=ab&DurationSeconds=99999")).unwrap_err();
        assert!(err.message.contains("43200"), "{}", err.message);
    }
}
