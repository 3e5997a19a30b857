//! Who is calling: the tenant every request acts for.
//!
//! Authentication is one tower layer in front of every service
//! ([`tenant_layer`]). Today it assigns the default tenant to every call;
//! per-tenant API keys with scopes replace the body of [`resolve_tenant`]
//! and nothing else. Handlers only ever read the tenant through
//! [`tenant_of`], never from a request body.

use rapport_engine::TenantId;
use tonic::service::InterceptorLayer;
use tonic::{Request, Status};

/// The interceptor function type used by [`tenant_layer`].
pub type TenantInterceptor = fn(Request<()>) -> Result<Request<()>, Status>;

/// The layer that attaches a [`TenantId`] to every request.
pub fn tenant_layer() -> InterceptorLayer<TenantInterceptor> {
    InterceptorLayer::new(resolve_tenant as TenantInterceptor)
}

/// Attaches the caller's tenant. Auth off: everyone is the default tenant.
fn resolve_tenant(mut request: Request<()>) -> Result<Request<()>, Status> {
    request.extensions_mut().insert(TenantId::default());
    Ok(request)
}

/// The tenant attached by [`tenant_layer`]; `UNAUTHENTICATED` without one.
pub fn tenant_of<T>(request: &Request<T>) -> Result<TenantId, Status> {
    request
        .extensions()
        .get::<TenantId>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no tenant credentials"))
}
