//! `nextToken` pagination: opaque tokens that carry the offset of the next
//! page and the operation they belong to, so a token from one listing is
//! refused by another (`InvalidNextTokenException`). The last page carries
//! no token, which is how botocore's paginators know to stop. CodeDeploy's
//! and CodeBuild's listings share this; their scopes differ
//! ([`TokenScope`]), so a token of one service is refused by the other.

use crate::{AwsError, AwsResult, Operation};

/// The listing a token belongs to.
pub trait TokenScope: Copy {
    /// A name unique among all services' listings.
    fn token_scope(self) -> &'static str;
}

impl TokenScope for Operation {
    fn token_scope(self) -> &'static str {
        self.name()
    }
}

/// Items per page, as CodeDeploy's list operations return.
pub const PAGE_SIZE: usize = 100;

/// One page of `items` starting at `token` (absent: the first page), and
/// the token of the next page if there is one.
pub fn page<T>(op: impl TokenScope, items: Vec<T>, token: Option<&str>) -> AwsResult<(Vec<T>, Option<String>)> {
    page_of(op, items, token, PAGE_SIZE)
}

pub fn page_of<T>(
    op: impl TokenScope,
    items: Vec<T>,
    token: Option<&str>,
    size: usize,
) -> AwsResult<(Vec<T>, Option<String>)> {
    let start = match token.filter(|t| !t.is_empty()) {
        Some(token) => decode(op, token)?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(size).collect();
    let next = (start + size < total).then(|| encode(op, start + size));
    Ok((page, next))
}

fn encode(op: impl TokenScope, offset: usize) -> String {
    let plain = format!("{}:{offset}", op.token_scope());
    plain.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode(op: impl TokenScope, token: &str) -> AwsResult<usize> {
    let invalid = || AwsError::new("InvalidNextTokenException", "The next token was specified in an invalid format.");
    if !token.len().is_multiple_of(2) || token.len() > 400 {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok()).collect();
    let plain = String::from_utf8(bytes.ok_or_else(invalid)?).map_err(|_| invalid())?;
    let (name, offset) = plain.rsplit_once(':').ok_or_else(invalid)?;
    if name != op.token_scope() {
        return Err(invalid());
    }
    offset.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_and_the_last_has_no_token() {
        let items: Vec<u32> = (0..250).collect();
        let (first, next) = page(Operation::ListApplications, items.clone(), None).unwrap();
        assert_eq!(first.len(), 100);
        let (second, next) = page(Operation::ListApplications, items.clone(), next.as_deref()).unwrap();
        assert_eq!(second[0], 100);
        let (third, next) = page(Operation::ListApplications, items.clone(), next.as_deref()).unwrap();
        assert_eq!((third.len(), next), (50, None));
        let (exact, next) = page(Operation::ListApplications, (0..100).collect::<Vec<u32>>(), None).unwrap();
        assert_eq!((exact.len(), next), (100, None));
    }

    #[test]
    fn foreign_or_garbled_tokens_are_refused() {
        let (_, next) = page(Operation::ListApplications, (0..150).collect::<Vec<u32>>(), None).unwrap();
        let err = page(Operation::ListDeployments, vec![1], next.as_deref()).unwrap_err();
        assert_eq!(err.code, "InvalidNextTokenException");
        for bad in ["zz", "abc", "00", "4c6973744170706c69636174696f6e733a78"] {
            assert_eq!(
                page(Operation::ListApplications, vec![1], Some(bad)).unwrap_err().code,
                "InvalidNextTokenException"
            );
        }
    }
}
