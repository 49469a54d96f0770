//! The S3 operation a request asks for, named as AWS names it, for the
//! per-operation counts in `/metrics`: found from the method, whether a
//! bucket and a key are addressed, and the sub-resource in the query, as
//! S3 routes requests.

use hyper::{HeaderMap, Method};

/// What a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The service (`/`): bucket listing, STS.
    Service,
    /// A bucket.
    Bucket,
    /// An object in a bucket.
    Object,
}

impl Target {
    /// What `path` addresses; `bucket_in_host` when the bucket is named by
    /// the host (virtual-hosted style), so the path is the key.
    pub fn of(path: &str, bucket_in_host: bool) -> Target {
        let rest = path.trim_start_matches('/');
        match (bucket_in_host, rest.split_once('/')) {
            (true, _) if rest.is_empty() => Target::Bucket,
            (true, _) => Target::Object,
            (false, None) if rest.is_empty() => Target::Service,
            (false, None) => Target::Bucket,
            (false, Some((_, ""))) => Target::Bucket,
            (false, Some(_)) => Target::Object,
        }
    }
}

/// The operation's name (`GetObject`, `ListObjectsV2`, ...), or a
/// family's (`GetBucketConfig`) for the sub-resources not told apart.
pub fn name(
    method: &Method,
    target: Target,
    query: Option<&str>,
    headers: &HeaderMap,
) -> &'static str {
    let has = |key: &str| {
        query.is_some_and(|q| {
            q.split('&')
                .any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == key)
        })
    };
    let any_query = query.is_some_and(|q| !q.is_empty());
    let copy = headers.contains_key("x-amz-copy-source");
    match (target, method.as_str()) {
        (Target::Service, "GET") => "ListBuckets",
        (Target::Service, "POST") => "AssumeRole",
        (Target::Bucket, "HEAD") => "HeadBucket",
        (Target::Bucket, "GET") if has("uploads") => "ListMultipartUploads",
        (Target::Bucket, "GET") if has("location") => "GetBucketLocation",
        (Target::Bucket, "GET") if has("versioning") => "GetBucketVersioning",
        (Target::Bucket, "GET") if has("versions") => "ListObjectVersions",
        (Target::Bucket, "GET") if has("list-type") => "ListObjectsV2",
        (Target::Bucket, "GET")
            if !any_query
                || has("prefix")
                || has("marker")
                || has("delimiter")
                || has("max-keys") =>
        {
            "ListObjects"
        }
        (Target::Bucket, "GET") => "GetBucketConfig",
        (Target::Bucket, "PUT") if !any_query => "CreateBucket",
        (Target::Bucket, "PUT") => "PutBucketConfig",
        (Target::Bucket, "DELETE") if !any_query => "DeleteBucket",
        (Target::Bucket, "DELETE") => "DeleteBucketConfig",
        (Target::Bucket, "POST") if has("delete") => "DeleteObjects",
        (Target::Bucket, "POST") => "PostObject",
        (Target::Object, "HEAD") => "HeadObject",
        (Target::Object, "GET") if has("uploadId") => "ListParts",
        (Target::Object, "GET") if has("tagging") || has("acl") || has("attributes") => {
            "GetObjectConfig"
        }
        (Target::Object, "GET") => "GetObject",
        (Target::Object, "PUT") if has("uploadId") && copy => "UploadPartCopy",
        (Target::Object, "PUT") if has("uploadId") => "UploadPart",
        (Target::Object, "PUT") if has("tagging") || has("acl") => "PutObjectConfig",
        (Target::Object, "PUT") if copy => "CopyObject",
        (Target::Object, "PUT") => "PutObject",
        (Target::Object, "DELETE") if has("uploadId") => "AbortMultipartUpload",
        (Target::Object, "DELETE") => "DeleteObject",
        (Target::Object, "POST") if has("uploads") => "CreateMultipartUpload",
        (Target::Object, "POST") if has("uploadId") => "CompleteMultipartUpload",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(method: Method, path: &str, query: Option<&str>, copy: bool) -> &'static str {
        let mut headers = HeaderMap::new();
        if copy {
            headers.insert("x-amz-copy-source", "b/k".parse().expect("a value"));
        }
        name(&method, Target::of(path, false), query, &headers)
    }

    #[test]
    fn requests_are_named_as_aws_names_them() {
        assert_eq!(of(Method::GET, "/", None, false), "ListBuckets");
        assert_eq!(of(Method::PUT, "/b", None, false), "CreateBucket");
        assert_eq!(of(Method::HEAD, "/b/", None, false), "HeadBucket");
        assert_eq!(
            of(Method::GET, "/b", Some("list-type=2&prefix=a"), false),
            "ListObjectsV2"
        );
        assert_eq!(
            of(Method::GET, "/b", Some("prefix=a"), false),
            "ListObjects"
        );
        assert_eq!(
            of(Method::GET, "/b", Some("location"), false),
            "GetBucketLocation"
        );
        assert_eq!(
            of(Method::GET, "/b", Some("policy"), false),
            "GetBucketConfig"
        );
        assert_eq!(
            of(Method::POST, "/b", Some("delete"), false),
            "DeleteObjects"
        );
        assert_eq!(of(Method::DELETE, "/b", None, false), "DeleteBucket");
        assert_eq!(of(Method::GET, "/b/a/b.txt", None, false), "GetObject");
        assert_eq!(of(Method::HEAD, "/b/k", None, false), "HeadObject");
        assert_eq!(of(Method::PUT, "/b/k", None, false), "PutObject");
        assert_eq!(of(Method::PUT, "/b/k", None, true), "CopyObject");
        assert_eq!(
            of(Method::POST, "/b/k", Some("uploads"), false),
            "CreateMultipartUpload"
        );
        assert_eq!(
            of(Method::PUT, "/b/k", Some("partNumber=1&uploadId=x"), false),
            "UploadPart"
        );
        assert_eq!(
            of(Method::PUT, "/b/k", Some("partNumber=1&uploadId=x"), true),
            "UploadPartCopy"
        );
        assert_eq!(
            of(Method::POST, "/b/k", Some("uploadId=x"), false),
            "CompleteMultipartUpload"
        );
        assert_eq!(
            of(Method::DELETE, "/b/k", Some("uploadId=x"), false),
            "AbortMultipartUpload"
        );
        assert_eq!(
            of(Method::GET, "/b/k", Some("uploadId=x"), false),
            "ListParts"
        );
        assert_eq!(of(Method::DELETE, "/b/k", None, false), "DeleteObject");
        assert_eq!(of(Method::PATCH, "/b/k", None, false), "other");
        // the bucket in the host name: the path is the key
        let headers = HeaderMap::new();
        assert_eq!(
            name(&Method::GET, Target::of("/", true), None, &headers),
            "ListObjects"
        );
        assert_eq!(
            name(&Method::GET, Target::of("/k", true), None, &headers),
            "GetObject"
        );
    }
}
