#!/usr/bin/env python3
"""Tests of gen-node-defs.py: python3 packaging/vyos/gen_node_defs_test.py

The expectations are read from service_wgstun.xml independently of the
generator (which node.def must exist, with which fields), plus exact texts for
a few files and a run of every syntax:expression through /bin/sh with a
stand-in validate-value that matches the whole value as VyOS's does.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
XML = os.path.join(HERE, 'service_wgstun.xml')
OWNER = '/usr/libexec/vyos/conf_mode/service_wgstun.py'

spec = importlib.util.spec_from_file_location('gen_node_defs', os.path.join(HERE, 'gen-node-defs.py'))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


def parse_node_def(path):
    """node.def as {field: [values]}; a bare 'tag:' / 'multi:' has value ''."""
    fields = {}
    with open(path, encoding='utf-8') as f:
        for line in f.read().splitlines():
            assert line and not line[0].isspace(), f'{path}: unexpected line {line!r}'
            if line.startswith('syntax:expression:'):
                key, value = 'syntax:expression', line[len('syntax:expression:'):]
            else:
                key, _, value = line.partition(':')
            fields.setdefault(key, []).append(value.strip())
    return fields


def expected_nodes(xml_path):
    """(relative dir, element) for every node with properties, walked from the XML."""
    out = []

    def walk(elem, path):
        here = path + [elem.get('name')]
        if elem.find('properties') is not None:
            out.append(('/'.join(here), elem))
        children = elem.find('children')
        if children is None:
            return
        below = here + ['node.tag'] if elem.tag == 'tagNode' else here
        for c in children:
            walk(c, below)

    for top in ET.parse(xml_path).getroot():
        walk(top, [])
    return out


def vyatta_unquote(s):
    """What vyatta-cfg hands to the shell for a double-quoted exec string."""
    out, i = [], 0
    while i < len(s):
        if s[i] == '\\' and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return ''.join(out)


STUB_VALIDATE_VALUE = r'''#!/usr/bin/env python3
# Stand-in for VyOS's validate-value: every --regex must match the whole value
# or any --exec validator (run with the value appended) must succeed.
import re, subprocess, sys
args = sys.argv[1:]
regexes, execs, value = [], [], None
while args:
    opt, arg, args = args[0], args[1], args[2:]
    {'--regex': regexes.append, '--exec': execs.append}.get(opt, lambda a: None)(arg)
    if opt == '--value':
        value = arg
ok = any(re.fullmatch(r, value) for r in regexes)
ok = ok or any(subprocess.run(e + ' ' + "'" + value + "'", shell=True).returncode == 0 for e in execs)
sys.exit(0 if ok else 1)
'''
STUB_IP_ADDRESS = '''#!/usr/bin/env python3
import ipaddress, sys
try:
    ipaddress.ip_address(sys.argv[1])
except ValueError:
    sys.exit(1)
'''


class GeneratedTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, 'templates')
        cls.files = gen.generate(XML, cls.out)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def nd(self, rel):
        return parse_node_def(os.path.join(self.out, rel, 'node.def'))

    def test_exactly_one_node_def_per_node_with_properties(self):
        want = sorted(os.path.join(rel, 'node.def') for rel, _ in expected_nodes(XML))
        got = sorted(os.path.relpath(os.path.join(d, f), self.out)
                     for d, _, fs in os.walk(self.out) for f in fs)
        self.assertEqual(got, want)
        self.assertEqual(len(got), 34)  # wgstun and the 33 nodes below it, counted by hand
        self.assertFalse(os.path.exists(os.path.join(self.out, 'service', 'node.def')),
                         'service/node.def belongs to vyos-1x and must not be shipped')

    def test_fields_follow_the_xml(self):
        for rel, elem in expected_nodes(XML):
            with self.subTest(node=rel):
                f = self.nd(rel)
                props = elem.find('properties')
                kind = elem.tag
                self.assertEqual('tag' in f, kind == 'tagNode')
                self.assertEqual('multi' in f, props.find('multi') is not None)
                if kind == 'node' or props.find('valueless') is not None:
                    self.assertNotIn('type', f)
                else:
                    self.assertEqual(f['type'], ['txt'])
                self.assertEqual(len(f['help']), 1)
                self.assertTrue(f['help'][0].startswith(' '.join(props.find('help').text.split())))
                default = elem.find('defaultValue')
                if default is not None:
                    self.assertTrue(f['help'][0].endswith(f'(default: {default.text})'))
                want_vh = [(v.find('format').text, v.find('description').text)
                           for v in props.findall('valueHelp')]
                got_vh = [tuple(x.split('; ', 1)) for x in f.get('val_help', [])]
                self.assertEqual([g[0] for g in got_vh], [w[0] for w in want_vh])
                for (_, gd), (_, wd) in zip(got_vh, want_vh):
                    self.assertTrue(gd.startswith(wd))
                constraint = props.find('constraint')
                if constraint is None:
                    self.assertNotIn('syntax:expression', f)
                else:
                    self.assertEqual(len(f['syntax:expression']), 1)
                    expr = vyatta_unquote(f['syntax:expression'][0])
                    for r in constraint.findall('regex'):
                        self.assertIn(f"--regex '{r.text}'", expr)
                    for v in constraint.findall('validator'):
                        self.assertIn('${vyos_validators_dir}/' + v.get('name'), expr)
                    msg = props.find('constraintErrorMessage')
                    self.assertTrue(f['syntax:expression'][0].endswith(
                        '"; "%s"' % (msg.text if msg is not None else 'Invalid value')))
                ch = props.find('completionHelp')
                if ch is None:
                    self.assertNotIn('allowed', f)
                else:
                    for lst in ch.findall('list'):
                        self.assertIn(f'echo "{lst.text}"', f['allowed'][0])
                    for p in ch.findall('path'):
                        self.assertIn(f'/bin/cli-shell-api listNodes {p.text}', f['allowed'][0])
                if elem.get('owner'):
                    self.assertEqual(f['priority'], [props.find('priority').text])
                    self.assertEqual(f['end'], [f'sudo sh -c "${{vyshim}} {elem.get("owner")}"'])
                else:
                    self.assertNotIn('priority', f)
                    self.assertNotIn('end', f)

    def test_exact_texts(self):
        cases = [
            ('service/wgstun',
             'priority: 990\n'
             'help: wgstun: direct WireGuard paths through NAT using STUN\n'
             f'end: sudo sh -c "${{vyshim}} {OWNER}"\n'),
            ('service/wgstun/stun/server',
             'multi:\ntype: txt\nhelp: STUN server, tried in the order given\n'
             'val_help: txt; host:port, IPv6 literal as [addr]:port\n'
             'syntax:expression: exec "${vyos_libexec_dir}/validate-value '
             "--regex \\'(\\\\[[0-9a-fA-F:.]+\\\\]|[A-Za-z0-9.-]+):[0-9]{1,5}\\' "
             "--value \\'$VAR(@)\\'\"; \"STUN server must be host:port\"\n"),
            ('service/wgstun/interface/node.tag/only-configured-peers',
             'help: Manage only the peers configured below (default: every peer)\n'),
            ('service/wgstun/interface/node.tag/disable-fast-handshake',
             "help: Only update endpoints in place; never re-create a peer to skip WireGuard's 5 s handshake retry\n"),
            ('service/wgstun/interface/node.tag/family',
             'type: txt\nhelp: Address families used for STUN and endpoints (default: ipv4)\n'
             'allowed: echo "ipv4 ipv6 dual"\n'
             'syntax:expression: exec "${vyos_libexec_dir}/validate-value '
             "--regex \\'(ipv4|ipv6|dual)\\' --value \\'$VAR(@)\\'\"; \"Invalid value\"\n"),
            ('service/wgstun/store',
             'tag:\ntype: txt\nhelp: Named store for sealed endpoint records\n'
             'val_help: txt; Store name\n'
             'syntax:expression: exec "${vyos_libexec_dir}/validate-value '
             "--regex \\'[A-Za-z0-9_-]{1,32}\\' --value \\'$VAR(@)\\'\"; \"Invalid value\"\n"),
        ]
        for rel, want in cases:
            with self.subTest(node=rel):
                with open(os.path.join(self.out, rel, 'node.def'), encoding='utf-8') as f:
                    self.assertEqual(f.read(), want)

    def test_constraints_run_through_sh(self):
        bindir = os.path.join(self.tmp.name, 'libexec')
        os.makedirs(os.path.join(bindir, 'validators'), exist_ok=True)
        for path, body in ((os.path.join(bindir, 'validate-value'), STUB_VALIDATE_VALUE),
                           (os.path.join(bindir, 'validators', 'ip-address'), STUB_IP_ADDRESS)):
            with open(path, 'w') as f:
                f.write(body)
            os.chmod(path, 0o755)
        key = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg='
        cases = {
            'service/wgstun/log-level': (['debug', 'info', 'error'], ['verbose', 'infox', 'xinfo', '']),
            'service/wgstun/stun/server': (['stun.l.google.com:19302', '[2001:db8::1]:3478', '192.0.2.1:3478'],
                                           ['stun.l.google.com', ':3478', 'a b:1', "x'y:1"]),
            'service/wgstun/store': (['home', 'kv_2', 'a-b'], ['', 'a b', 'x' * 33, 'a;b']),
            'service/wgstun/store/node.tag/type': (['file', 'exec', 'shell'], ['files', 'redis']),
            'service/wgstun/store/node.tag/path': (['/config/wgstun/store'], ['config/x', '']),
            'service/wgstun/store/node.tag/timeout': (['10s', '100ms', '1h'], ['10', 's', '1.5s', '10 s']),
            'service/wgstun/interface': (['wg0', 'wg.lan-1'], ['wg0/1', 'a' * 16, '']),
            'service/wgstun/interface/node.tag/family': (['ipv4', 'ipv6', 'dual'], ['ipv5', 'IPv4']),
            'service/wgstun/interface/node.tag/peer': ([key], [key[:-1], key + 'A', key[:-1] + '-']),
            'service/wgstun/interface/node.tag/peer/node.tag/ping': (['10.77.0.2', 'fd00::2'],
                                                                    ['10.77.0.256', 'wg0', '']),
        }
        env = dict(os.environ, vyos_libexec_dir=bindir, vyos_validators_dir=os.path.join(bindir, 'validators'))
        for rel, (good, bad) in cases.items():
            expr = self.nd(rel)['syntax:expression'][0]
            self.assertTrue(expr.startswith('exec "'), expr)
            command = vyatta_unquote(expr[len('exec "'):expr.rindex('";')])
            for value, want in [(v, True) for v in good] + [(v, False) for v in bad]:
                with self.subTest(node=rel, value=value):
                    # vyatta-cfg substitutes $VAR(@) before the shell sees the command.
                    run = subprocess.run(['sh', '-c', command.replace('$VAR(@)', value.replace("'", "'\\''"))],
                                         env=env, capture_output=True, timeout=30)
                    self.assertEqual(run.returncode == 0, want, run.stderr)


BASE = '''<interfaceDefinition><node name="service"><children>
<node name="x" owner="/usr/libexec/vyos/conf_mode/x.py">
<properties><help>X</help>%(prio)s</properties><children>%(body)s</children></node>
</children></node></interfaceDefinition>'''
PRIO = '<priority>500</priority>'


class Refusals(unittest.TestCase):
    def gen(self, body, prio=PRIO):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'x.xml')
            with open(path, 'w') as f:
                f.write(BASE % {'prio': prio, 'body': body})
            return gen.generate(path, os.path.join(d, 'out'))

    def test_a_valid_minimal_definition_passes(self):
        files = self.gen('<leafNode name="a"><properties><help>A</help></properties></leafNode>')
        self.assertEqual([os.path.basename(os.path.dirname(p)) for p in files], ['x', 'a'])

    def test_refused(self):
        leaf = '<leafNode name="a"><properties><help>A</help>%s</properties></leafNode>'
        cases = [
            ('owner without priority', leaf % '', '', 'service x: an owner node needs a <priority>'),
            ('priority below the owner', leaf % PRIO, PRIO, 'service x a: <priority> only on the owner'),
            ('multi on a tagNode', '<tagNode name="t"><properties><help>T</help><multi/></properties>'
             '<children>' + leaf % '' + '</children></tagNode>', PRIO, 'service x t: <multi/>'),
            ('valueless and multi', leaf % '<valueless/><multi/>', PRIO, 'both multi and valueless'),
            ('quote in a regex', leaf % "<constraint><regex>a'b</regex></constraint>", PRIO,
             'service x a: a constraint regex may not contain quotes'),
            ('empty regex', leaf % '<constraint><regex></regex></constraint>', PRIO, 'empty constraint regex'),
            ('constraintGroup', leaf % '<constraintGroup><regex>a</regex></constraintGroup>', PRIO,
             'constraintGroup'),
            ('unknown property', leaf % '<bogus/>', PRIO, 'service x a: unknown property <bogus>'),
            ('no help', '<leafNode name="a"><properties/></leafNode>', PRIO, 'service x a: <help> is missing'),
            ('leaf with children', '<leafNode name="a"><properties><help>A</help></properties>'
             '<children/></leafNode>', PRIO, 'service x a: a leafNode has no children'),
            ('unknown element', '<leaf name="a"/>', PRIO, 'unknown element <leaf>'),
            ('bad name', '<leafNode name="node.tag"><properties><help>A</help></properties></leafNode>',
             PRIO, 'bad node name "node.tag"'),
            ('defined twice', leaf % '' + leaf % '', PRIO, 'service x a: defined twice'),
        ]
        for name, body, prio, want in cases:
            with self.subTest(name=name):
                with self.assertRaises(gen.DefinitionError) as cm:
                    self.gen(body, prio)
                self.assertIn(want, str(cm.exception))

    def test_command_line(self):
        script = os.path.join(HERE, 'gen-node-defs.py')
        with tempfile.TemporaryDirectory() as d:
            ok = subprocess.run([sys.executable, script, XML, os.path.join(d, 'a')], capture_output=True, text=True)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            again = subprocess.run([sys.executable, script, XML, os.path.join(d, 'a')], capture_output=True, text=True)
            self.assertEqual(again.returncode, 1)
            self.assertIn('is not empty', again.stderr)
            bad = os.path.join(d, 'bad.xml')
            with open(bad, 'w') as f:
                f.write('<interfaceDefinition><node')
            broken = subprocess.run([sys.executable, script, bad, os.path.join(d, 'b')], capture_output=True, text=True)
            self.assertEqual(broken.returncode, 1)
            self.assertIn('bad.xml', broken.stderr)
            usage = subprocess.run([sys.executable, script], capture_output=True, text=True)
            self.assertEqual(usage.returncode, 2)


if __name__ == '__main__':
    unittest.main(verbosity=1)
