//! Clients kept by the process, one of a kind per cluster, for everything it does with
//! that cluster. A librdkafka client costs threads, buffers, connections and round trips
//! to make: twenty workers of one task each making their own admin client, and a new
//! metadata client for every read, cost memory per slot and time at start (issue 17).

use std::sync::{Arc, Mutex};

use crate::kafka::ClusterAccess;

/// How many clusters' clients of one kind are kept; past it the oldest is let go (its
/// users keep theirs until they drop it). A process works with a few clusters; the bound
/// keeps one whose connection settings keep changing from piling up clients.
const KEPT: usize = 16;

/// One client of a kind per cluster, handed to every user at once.
pub struct SharedClients<T> {
    clients: Mutex<Vec<(ClusterAccess, Arc<T>)>>,
}

impl<T> SharedClients<T> {
    pub const fn new() -> Self {
        Self {
            clients: Mutex::new(Vec::new()),
        }
    }

    /// The kept client for `access` if it is still `usable`, else a new one from `make`,
    /// kept from now on.
    pub fn get<E>(
        &self,
        access: &ClusterAccess,
        usable: impl Fn(&T) -> bool,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let mut clients = self.clients.lock().expect("client cache poisoned");
        match clients.iter().position(|(kept, _)| kept == access) {
            Some(at) if usable(&clients[at].1) => return Ok(clients[at].1.clone()),
            Some(at) => drop(clients.remove(at)),
            None => {}
        }
        let client = Arc::new(make()?);
        if clients.len() >= KEPT {
            clients.remove(0);
        }
        clients.push((access.clone(), client.clone()));
        Ok(client)
    }

    /// Stops keeping `client`: a request through it failed, and the next user gets a new
    /// one, so a cluster that is gone keeps no client reconnecting to it.
    pub fn forget(&self, client: &Arc<T>) {
        let mut clients = self.clients.lock().expect("client cache poisoned");
        clients.retain(|(_, kept)| !Arc::ptr_eq(kept, client));
    }

    /// Runs `request` through the kept client for `access` (made by `make` if none is),
    /// forgetting the client when the request fails.
    pub fn request<R, E>(
        &self,
        access: &ClusterAccess,
        make: impl FnOnce() -> Result<T, E>,
        request: impl FnOnce(&T) -> Result<R, E>,
    ) -> Result<R, E> {
        let client = self.get(access, |_| true, make)?;
        let answer = request(&client);
        if answer.is_err() {
            self.forget(&client);
        }
        answer
    }
}

impl<T> Default for SharedClients<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(name: &str) -> ClusterAccess {
        ClusterAccess::plaintext(format!("{name}:9092"))
    }

    fn made(clients: &SharedClients<u32>, access: &ClusterAccess, value: u32) -> Arc<u32> {
        clients
            .get(access, |v| *v != 0, || Ok::<_, ()>(value))
            .unwrap()
    }

    #[test]
    fn every_user_of_a_cluster_shares_one_client() {
        let clients = SharedClients::new();
        let first = made(&clients, &access("a"), 1);
        assert!(Arc::ptr_eq(&first, &made(&clients, &access("a"), 2)));
        assert_eq!(
            *made(&clients, &access("b"), 3),
            3,
            "another cluster has its own"
        );
        drop(first);
        assert_eq!(
            *made(&clients, &access("a"), 4),
            1,
            "kept while nobody holds it"
        );
    }

    #[test]
    fn an_unusable_or_failed_client_is_replaced() {
        let clients = SharedClients::new();
        let a = access("a");
        assert_eq!(*made(&clients, &a, 0), 0);
        assert_eq!(*made(&clients, &a, 5), 5, "unusable: replaced");
        let failed: Result<(), ()> = clients.request(&a, || Ok(6), |_| Err(()));
        assert!(failed.is_err());
        assert_eq!(
            *made(&clients, &a, 7),
            7,
            "a failed request's client is let go"
        );
        let answer = clients.request(&a, || Ok(8), |v| Ok::<_, ()>(*v));
        assert_eq!(answer, Ok(7));
    }

    #[test]
    fn only_so_many_clusters_are_kept() {
        let clients = SharedClients::new();
        for i in 0..=KEPT {
            made(&clients, &access(&format!("c{i}")), 1);
        }
        assert_eq!(clients.clients.lock().unwrap().len(), KEPT);
        assert_eq!(
            *made(&clients, &access("c0"), 9),
            9,
            "the oldest was let go"
        );
    }
}
