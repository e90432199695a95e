# Homebrew tap formula for wgstun. Lives in a tap repository as
# Formula/wgstun.rb (for example github.com/wgstun/homebrew-tap):
#   brew install wgstun/tap/wgstun
class Wgstun < Formula
  desc "Direct WireGuard paths through NAT using STUN from the WireGuard port"
  homepage "https://github.com/wgstun/wgstun"
  # The release step replaces url and sha256 for each tag (the source
  # tarball's checksum cannot exist before the tag does).
  url "https://github.com/wgstun/wgstun/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "MIT"
  head "https://github.com/wgstun/wgstun.git", branch: "main"

  depends_on "go" => :build
  depends_on "wireguard-tools"

  on_macos do
    # macOS has no kernel WireGuard: wg-quick runs wireguard-go, whose UAPI
    # socket in /var/run/wireguard is what wgstun talks to.
    depends_on "wireguard-go"
  end

  def install
    # The full build: every store (scripts/builds.sh); size matters less here than on a router.
    system "go", "build", *std_go_args(ldflags: "-X main.version=#{version}", tags: "rfc2136,cloudflare,opendht"), "./src/cmd/wgstun"
    (pkgshare/"wgstun.toml.sample").write sample_config
    man8.install "src/cmd/wgstun/wgstun.8"
  end

  # The live configuration is created once and never overwritten, so an
  # upgrade or reinstall keeps the user's edits.
  def post_install
    (etc/"wgstun").mkpath
    config = etc/"wgstun/wgstun.toml"
    cp pkgshare/"wgstun.toml.sample", config unless config.exist?
  end

  def sample_config
    <<~TOML
      # wgstun configuration. Check it with:
      #   wgstun check -c #{etc}/wgstun/wgstun.toml
      # It is reloaded when saved; `sudo brew services restart wgstun` also works.

      [log]
      level = "info"

      [stun]
      servers = ["stun.l.google.com:19302", "stun.cloudflare.com:3478"]

      [store.local]
      type = "file"                      # or "exec"/"shell" with command = "..."
      path = "#{var}/lib/wgstun/store"

      [[interface]]
      name = "wg0"                       # as wg-quick names it; mapped to its utunN
      store = "local"
      family = "ipv4"
      refresh = "5m"
      peers = []                         # empty: every peer on the interface
      # bind_interface = "en0"           # send STUN via this interface under a full tunnel
    TOML
  end

  def caveats
    <<~EOS
      wgstun reads STUN answers from /dev/bpf and talks to wireguard-go's
      root-owned socket, so it must run as root:
        sudo brew services start wgstun

      Edit #{etc}/wgstun/wgstun.toml first and check it with:
        wgstun check -c #{etc}/wgstun/wgstun.toml
      Keep the WireGuard interface's ListenPort fixed. Log: #{var}/log/wgstun.log
    EOS
  end

  service do
    run [opt_bin/"wgstun", "run", "-c", etc/"wgstun/wgstun.toml"]
    require_root true
    keep_alive true
    log_path var/"log/wgstun.log"
    error_log_path var/"log/wgstun.log"
  end

  test do
    assert_match "wgstun #{version}", shell_output("#{bin}/wgstun version")

    (testpath/"wgstun.toml").write <<~TOML
      [stun]
      servers = ["192.0.2.1:3478"]

      [store.t]
      type = "file"
      path = "#{testpath}/store"

      [[interface]]
      name = "wg0"
      store = "t"
    TOML
    assert_match "is valid", shell_output("#{bin}/wgstun check -c #{testpath}/wgstun.toml")

    (testpath/"bad.toml").write "[stun]\nservers = []\n"
    output = shell_output("#{bin}/wgstun check -c #{testpath}/bad.toml 2>&1", 2)
    assert_match "stun.servers: at least one STUN server", output
    assert_match "at least one [[interface]] is required", output
  end
end
