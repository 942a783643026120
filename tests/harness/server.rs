//! [`serve`]: an app's actix-web server on a free loopback port, for the tests that talk
//! to it over HTTP.

use std::io;
use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::rt::task::JoinHandle;
use actix_web::{App, HttpServer};

/// A running server: where it listens, and how to stop it.
pub struct Served {
    /// Its address: `127.0.0.1` and the port it was given.
    pub addr: SocketAddr,
    handle: ServerHandle,
    running: JoinHandle<io::Result<()>>,
}

impl Served {
    /// Stops the server gracefully and waits until it has; panics when it failed.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.running.await.unwrap().unwrap();
    }
}

/// Serves the apps `app` builds with `workers` workers on a free loopback port, on the
/// current actix runtime (`#[actix_web::test]`).
pub fn serve<F, T, B>(workers: usize, app: F) -> Served
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let server = HttpServer::new(app)
        .workers(workers)
        .bind(("127.0.0.1", 0))
        .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    Served {
        addr,
        handle,
        running: actix_web::rt::spawn(server),
    }
}
