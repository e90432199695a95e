# Loads wgstun.rb against a small stand-in for Homebrew's Formula DSL and
# checks what brew would see: metadata, dependencies, the `service do` block,
# caveats, the exact `go build` arguments. The install step and the formula's
# own `test do` block are then really run: go builds the daemon from this
# checkout into a temporary prefix, post_install writes the sample config
# (which must pass `wgstun check` and must not be overwritten on reinstall),
# and the test block runs against the built binary.
#
# Run: ruby packaging/homebrew/formula_test.rb (or bash packaging/homebrew/test.sh)
require "minitest/autorun"
require "fileutils"
require "open3"
require "pathname"
require "tmpdir"

ROOT = File.expand_path("../..", __dir__)
FORMULA_FILE = File.join(__dir__, "wgstun.rb")

# Homebrew's Pathname#write (extend/pathname.rb) creates the parent
# directory and refuses to overwrite an existing file.
module HomebrewPathnameWrite
  def write(content, *args)
    raise "Will not overwrite #{self}" if exist?

    dirname.mkpath
    super
  end
end
Pathname.prepend(HomebrewPathnameWrite)

# Homebrew's Pathname#install: copy files (relative to the build's working
# directory, the source tree) into this directory, made first.
module HomebrewPathnameInstall
  def install(*sources)
    mkpath
    sources.each { |s| FileUtils.cp(File.join(ROOT, s.to_s), self) }
  end
end
Pathname.prepend(HomebrewPathnameInstall)

# The parts of Homebrew's Formula that wgstun.rb uses. Class-level DSL calls
# are recorded; paths follow Homebrew's layout under a test prefix.
class Formula
  include FileUtils
  include Minitest::Assertions
  attr_accessor :assertions
  attr_reader :commands
  attr_writer :version_override

  class << self
    attr_reader :dsl, :deps, :macos_deps, :linux_deps, :service_block, :test_block

    def inherited(sub)
      super
      sub.instance_variable_set(:@dsl, {})
      sub.instance_variable_set(:@deps, [])
      sub.instance_variable_set(:@macos_deps, [])
      sub.instance_variable_set(:@linux_deps, [])
    end

    %i[desc homepage url sha256 license].each do |m|
      define_method(m) do |value|
        raise ArgumentError, "#{m} given twice" if @dsl.key?(m)

        @dsl[m] = value
      end
    end

    def head(url, **opts)
      @dsl[:head] = [url, opts]
    end

    def depends_on(spec)
      (@on || @deps) << spec
    end

    def on_macos(&block)
      with_os(@macos_deps, &block)
    end

    def on_linux(&block)
      with_os(@linux_deps, &block)
    end

    def service(&block)
      @service_block = block
    end

    def test(&block)
      @test_block = block
    end

    private

    def with_os(list, &block)
      @on = list
      class_exec(&block)
    ensure
      @on = nil
    end
  end

  def initialize(root, testpath: nil)
    @root = Pathname(root)
    @testpath = testpath && Pathname(testpath)
    @commands = []
    @assertions = 0
  end

  def name = "wgstun"

  # Homebrew derives the version from the tarball name (v0.1.0.tar.gz).
  def version
    return @version_override if @version_override

    v = self.class.dsl[:url][%r{/v?(\d+(?:\.\d+)+)\.tar\.gz\z}, 1]
    raise "cannot derive a version from url #{self.class.dsl[:url]}" unless v

    v
  end

  def prefix = @root/"Cellar"/name/version
  def bin = prefix/"bin"
  def pkgshare = prefix/"share"/name
  def man8 = prefix/"share/man/man8"
  def opt_bin = @root/"opt"/name/"bin"
  def etc = @root/"etc"
  def var = @root/"var"
  def testpath = @testpath || raise("testpath is only set for the test block")

  # Homebrew's std_go_args: -trimpath, -o=<bin/name>, then -tags, -ldflags
  # (which always begin with -s -w: std_go_args strips), -gcflags when given.
  def std_go_args(output: bin/name, ldflags: nil, gcflags: nil, tags: nil)
    args = ["-trimpath", "-o=#{output}"]
    args << "-tags=#{Array(tags).join(",")}" if tags
    args << "-ldflags=#{["-s", "-w", *Array(ldflags)].join(" ")}"
    args << "-gcflags=#{Array(gcflags).join(" ")}" if gcflags
    args
  end

  # Homebrew runs install in the unpacked source tree and fails on a
  # non-zero exit; here the source tree is this checkout.
  def system(cmd, *args)
    argv = [cmd, *args].map(&:to_s)
    @commands << argv
    ok = Kernel.system(*argv, chdir: ROOT)
    raise "#{argv.join(" ")} failed" unless ok
  end

  def shell_output(cmd, result = 0)
    out, status = Open3.capture2(cmd)
    assert_equal result, status.exitstatus, "exit status of #{cmd}"
    out
  end

  def run_test
    instance_exec(&self.class.test_block)
  end
end

# Records a `service do` block the way Homebrew's Service class reads it.
class ServiceRecorder
  FIELDS = %i[run require_root keep_alive log_path error_log_path working_dir
              environment_variables restart_delay run_type process_type nice].freeze
  attr_reader :fields

  def initialize(formula)
    @formula = formula
    @fields = {}
  end

  FIELDS.each { |f| define_method(f) { |value| @fields[f] = value } }

  %i[opt_bin opt_prefix etc var bin].each { |m| define_method(m) { @formula.public_send(m) } }
end

load FORMULA_FILE

class WgstunFormulaTest < Minitest::Test
  def setup
    @dir = Dir.mktmpdir("wgstun-brew")
    @f = Wgstun.new(@dir)
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def dsl = Wgstun.dsl

  def test_metadata
    desc = dsl.fetch(:desc)
    assert_operator desc.length, :<=, 80, "desc too long for brew audit"
    refute_match(/\A(a|an|the|wgstun)\b/i, desc, "desc must not start with an article or the name")
    refute desc.end_with?("."), "desc must not end with a period"
    assert_match %r{\Ahttps://}, dsl.fetch(:homepage)
    assert_match %r{\Ahttps://github\.com/wgstun/wgstun/archive/refs/tags/v[\d.]+\.tar\.gz\z}, dsl.fetch(:url)
    assert_match(/\A\h{64}\z/, dsl.fetch(:sha256))
    assert_equal "MIT", dsl.fetch(:license)
    assert_equal ["https://github.com/wgstun/wgstun.git", { branch: "main" }], dsl.fetch(:head)
    assert_equal "0.1.0", @f.version
  end

  def test_dependencies
    assert_includes Wgstun.deps, { "go" => :build }
    assert_includes Wgstun.deps, "wireguard-tools"
    assert_equal ["wireguard-go"], Wgstun.macos_deps
  end

  def test_service_block
    svc = ServiceRecorder.new(@f)
    svc.instance_exec(&Wgstun.service_block)
    fields = svc.fields
    assert_equal [@f.opt_bin/"wgstun", "run", "-c", @f.etc/"wgstun/wgstun.toml"], fields[:run]
    assert_equal true, fields[:require_root]
    assert_equal true, fields[:keep_alive]
    assert_equal @f.var/"log/wgstun.log", fields[:log_path]
    assert_equal @f.var/"log/wgstun.log", fields[:error_log_path]
  end

  def test_caveats
    text = @f.caveats
    assert_match "sudo brew services start wgstun", text
    assert_match "#{@f.etc}/wgstun/wgstun.toml", text
    assert_match "/dev/bpf", text
  end

  # The formula builds what scripts/builds.sh calls the full build.
  def full_tags
    File.read(File.join(ROOT, "scripts/builds.sh"))[/^full_tags="([^"]+)"$/, 1] or
      raise "no full_tags in scripts/builds.sh"
  end

  def test_install_post_install_and_test_block
    @f.install
    want = ["go", "build", "-trimpath", "-o=#{@f.bin}/wgstun", "-tags=#{full_tags}",
            "-ldflags=-s -w -X main.version=0.1.0", "./src/cmd/wgstun"]
    assert_equal want, @f.commands.first
    refute_match(/-s -w/, File.read(FORMULA_FILE), "std_go_args already passes -s -w; the formula must not repeat it")
    binary = @f.bin/"wgstun"
    assert binary.executable?, "go build did not produce #{binary}"
    assert_equal File.read(File.join(ROOT, "src/cmd/wgstun/wgstun.8")), (@f.man8/"wgstun.8").read,
                 "the manual page is not installed to man8"
    out, status = Open3.capture2(binary.to_s, "version")
    assert status.success?
    assert_equal "wgstun 0.1.0\n", out, "version not stamped through -ldflags"

    @f.post_install
    config = @f.etc/"wgstun/wgstun.toml"
    assert config.file?, "post_install did not create #{config}"
    assert_match "#{@f.var}/lib/wgstun/store", config.read
    out, status = Open3.capture2e(binary.to_s, "check", "-c", config.to_s)
    assert status.success?, "sample config rejected by wgstun check:\n#{out}"

    File.write(config, "# edited by the user\n")
    @f.post_install
    assert_equal "# edited by the user\n", config.read, "post_install overwrote an existing config"

    Dir.mktmpdir("wgstun-brew-testpath") do |tp|
      t = Wgstun.new(@dir, testpath: tp)
      before = t.assertions
      t.run_test
      assert_operator t.assertions - before, :>=, 5, "test block made too few assertions"
    end

    # The test block must be able to fail: a binary stamped with another
    # version does not satisfy it.
    Dir.mktmpdir("wgstun-brew-testpath") do |tp|
      t = Wgstun.new(@dir, testpath: tp)
      t.version_override = "9.9.9"
      FileUtils.mkdir_p(t.bin)
      FileUtils.cp(binary, t.bin/"wgstun")
      assert_raises(Minitest::Assertion) { t.run_test }
    end
  end
end
