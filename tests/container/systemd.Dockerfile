# Test-only image: the product image's binary under a real systemd as PID 1, with the shipped
# unit files enabled as an operator would on a fresh Debian 12 host (test_systemd_pid1.sh builds
# and runs it). Not FROM the product image: its static user `cloudmeta` would replace
# DynamicUser=, and its VOLUME /var/lib/cloudmeta cannot become a StateDirectory (systemd moves
# it to /var/lib/private, a rename across overlayfs layers that fails with EXDEV).
FROM debian:12
# runtime-packages: docker/runtime-packages.sh run on the product image's binary.
COPY runtime-packages /tmp/runtime-packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       systemd systemd-sysv $(cat /tmp/runtime-packages) \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
COPY --from=localhost/cloudmeta:test /usr/local/bin/cloudmeta /usr/local/bin/cloudmeta
COPY units/ /etc/systemd/system/
RUN systemctl enable cloudmeta.socket cloudmeta-admin.socket
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
