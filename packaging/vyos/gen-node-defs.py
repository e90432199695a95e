#!/usr/bin/env python3
"""gen-node-defs.py XML OUTDIR: VyOS interface definition -> legacy node.def tree.

VyOS's configuration CLI (vyatta-cfg) reads one node.def per config node under
/opt/vyatta/share/vyatta-cfg/templates/. vyos-1x generates those files from
its XML at build time; a package built outside vyos-1x has to ship them
itself, so this writes them for service_wgstun.xml. Python 3 stdlib only.

Mapping (the facts of the node.def format as VyOS 1.4/1.5 uses it):
  node        directory NAME/ with node.def (help, priority, end: for an owner)
  tagNode     NAME/node.def with "tag:" and "type: txt"; children in NAME/node.tag/
  leafNode    NAME/node.def with "type: txt" (none when valueless), "multi:" for multi
  help        "help:", with " (default: X)" when the leaf has a defaultValue
  valueHelp   "val_help: FORMAT; DESCRIPTION" (" (default)" on the default's format)
  completionHelp  "allowed:" shell command (echo for a list, cli-shell-api for a path)
  constraint  "syntax:expression: exec" of ${vyos_libexec_dir}/validate-value, which
              matches the whole value against each regex / runs each validator
  owner       "end: sudo sh -c \"${vyshim} SCRIPT\"": vyshim hands the script to
              vyos-configd, which runs it (or it runs directly if configd passes)
A node without <properties> (here: `service`, owned by vyos-1x) gets a directory
but no node.def, so the package never ships a file another package owns.
"""

import os
import sys
import xml.etree.ElementTree as ET

DEFAULT_ERROR = 'Invalid value'
NODE_KINDS = ('node', 'tagNode', 'leafNode')
# Elements of <properties> the mapping reads or deliberately ignores (no
# node.def equivalent: keep/ordering hints used only by VyOS's own tools).
KNOWN_PROPERTIES = {'help', 'valueHelp', 'completionHelp', 'constraint',
                    'constraintErrorMessage', 'priority', 'multi', 'valueless',
                    'keepChildOrder', 'hidden', 'secret'}


class DefinitionError(Exception):
    """A construct the generator refuses, with the config path at fault."""


def text(elem, tag):
    child = elem.find(tag)
    if child is None or child.text is None:
        return None
    return ' '.join(child.text.split())


def quote_regex(regex, where):
    # The regex sits in single quotes inside the double-quoted exec string:
    # vyatta-cfg turns \\ into \ and \' into ', then sh keeps it literally.
    if "'" in regex or '"' in regex:
        raise DefinitionError(f'{where}: a constraint regex may not contain quotes: {regex}')
    if regex == '':
        raise DefinitionError(f'{where}: empty constraint regex (it would accept anything)')
    return "--regex \\'" + regex.replace('\\', '\\\\') + "\\'"


def constraint_line(props, where):
    args = []
    for c in props.findall('constraint'):
        for child in c:
            if child.tag == 'regex':
                args.append(quote_regex((child.text or '').strip(), where))
            elif child.tag == 'validator':
                name = child.get('name') or ''
                if not name or '/' in name or ' ' in name:
                    raise DefinitionError(f'{where}: bad validator name "{name}"')
                cmd = ('${vyos_validators_dir}/' + name + ' ' + (child.get('argument') or '')).strip()
                if '"' in cmd or "'" in cmd:
                    raise DefinitionError(f'{where}: validator argument may not contain quotes')
                args.append('--exec \\"' + cmd + '\\"')
            else:
                raise DefinitionError(f'{where}: unsupported constraint element <{child.tag}>')
    if props.find('constraintGroup') is not None:
        raise DefinitionError(f'{where}: <constraintGroup> is not supported by this generator')
    if not args:
        return None
    msg = text(props, 'constraintErrorMessage') or DEFAULT_ERROR
    if '"' in msg:
        raise DefinitionError(f'{where}: constraintErrorMessage may not contain double quotes')
    return ('syntax:expression: exec "${vyos_libexec_dir}/validate-value ' + ' '.join(args) +
            " --value \\'$VAR(@)\\'\"; \"" + msg + '"')


def allowed_line(props, where):
    cmds = []
    for ch in props.findall('completionHelp'):
        for child in ch:
            value = ' '.join((child.text or '').split())
            if '"' in value:
                raise DefinitionError(f'{where}: completionHelp may not contain double quotes')
            if child.tag == 'list':
                cmds.append(f'echo "{value}"')
            elif child.tag == 'path':
                cmds.append(f'/bin/cli-shell-api listNodes {value}')
            elif child.tag == 'script':
                cmds.append(f'sh -c "{value}"')
            else:
                raise DefinitionError(f'{where}: unsupported completionHelp element <{child.tag}>')
    if not cmds:
        return None
    return 'allowed: ' + ' && echo " " && '.join(cmds)


def node_def(elem, where):
    """The node.def text for one node, or None for a node without properties."""
    kind = elem.tag
    props = elem.find('properties')
    owner = elem.get('owner')
    if props is None:
        if owner:
            raise DefinitionError(f'{where}: an owner node needs <properties> with <priority>')
        return None
    for child in props:
        if child.tag not in KNOWN_PROPERTIES and child.tag != 'constraintGroup':
            raise DefinitionError(f'{where}: unknown property <{child.tag}>')
    multi = props.find('multi') is not None
    valueless = props.find('valueless') is not None
    if kind != 'leafNode' and (multi or valueless):
        raise DefinitionError(f'{where}: <multi/> and <valueless/> belong on a leafNode only')
    if multi and valueless:
        raise DefinitionError(f'{where}: a node cannot be both multi and valueless')
    priority = text(props, 'priority')
    if owner and priority is None:
        raise DefinitionError(f'{where}: an owner node needs a <priority>')
    if priority is not None and not owner:
        raise DefinitionError(f'{where}: <priority> only on the owner node (the one with the script)')
    if priority is not None and not priority.isdigit():
        raise DefinitionError(f'{where}: priority "{priority}" is not a number')

    default = text(elem, 'defaultValue')
    lines = []
    if kind == 'tagNode':
        lines.append('tag:')
    if multi:
        lines.append('multi:')
    if kind != 'node' and not valueless:
        lines.append('type: txt')
    if priority is not None:
        lines.append(f'priority: {priority}')
    help_text = text(props, 'help')
    if help_text is None:
        raise DefinitionError(f'{where}: <help> is missing')
    if default is not None:
        help_text += ' (default: ' + ', '.join(default.split()) + ')'
    lines.append(f'help: {help_text}')
    for vh in props.findall('valueHelp'):
        fmt = text(vh, 'format') or ''
        desc = text(vh, 'description') or ''
        if default is not None and default == fmt:
            desc += ' (default)'
        lines.append(f'val_help: {fmt}; {desc}')
    for line in (allowed_line(props, where), constraint_line(props, where)):
        if line:
            lines.append(line)
    if owner:
        if '"' in owner or "'" in owner or ' ' in owner:
            raise DefinitionError(f'{where}: owner "{owner}" must be a plain path')
        if kind == 'tagNode':
            lines.append(f'end: sudo sh -c "${{vyshim}} VYOS_TAGNODE_VALUE=\'$VAR(@)\' {owner}"')
        else:
            lines.append(f'end: sudo sh -c "${{vyshim}} {owner}"')
    return '\n'.join(lines) + '\n'


def walk(elem, outdir, path, files):
    """Write elem's node.def under outdir/path; return the list of files written."""
    kind = elem.tag
    if kind not in NODE_KINDS:
        raise DefinitionError(f'{" ".join(path) or "top"}: unknown element <{kind}>')
    name = elem.get('name') or ''
    if not name or name.startswith('.') or '/' in name or name == 'node.tag':
        raise DefinitionError(f'{" ".join(path) or "top"}: bad node name "{name}"')
    here = path + [name]
    where = ' '.join(here)
    directory = os.path.join(outdir, *[p for p in here if p])
    os.makedirs(directory, exist_ok=True)
    text_ = node_def(elem, where)
    if text_ is not None:
        target = os.path.join(directory, 'node.def')
        if os.path.exists(target):
            raise DefinitionError(f'{where}: defined twice')
        with open(target, 'w', encoding='utf-8') as f:
            f.write(text_)
        files.append(target)
    children = elem.find('children')
    if kind == 'leafNode':
        if children is not None:
            raise DefinitionError(f'{where}: a leafNode has no children')
        return files
    if children is None or len(children) == 0:
        raise DefinitionError(f'{where}: a {kind} needs children')
    below = here + ['node.tag'] if kind == 'tagNode' else here
    for child in children:
        walk(child, outdir, below, files)
    return files


def generate(xml_path, outdir):
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as e:
        raise DefinitionError(f'{xml_path}: {e}') from None
    if root.tag != 'interfaceDefinition':
        raise DefinitionError(f'{xml_path}: root element is <{root.tag}>, want <interfaceDefinition>')
    files = []
    for elem in root:
        if elem.tag == 'syntaxVersion':
            continue
        walk(elem, outdir, [], files)
    return files


def main(argv):
    if len(argv) != 3:
        print(f'usage: {argv[0]} XML OUTDIR', file=sys.stderr)
        return 2
    xml_path, outdir = argv[1], argv[2]
    if os.path.exists(outdir) and os.listdir(outdir):
        print(f'gen-node-defs: {outdir} is not empty', file=sys.stderr)
        return 1
    try:
        files = generate(xml_path, outdir)
    except DefinitionError as e:
        print(f'gen-node-defs: {e}', file=sys.stderr)
        return 1
    if not files:
        print(f'gen-node-defs: {xml_path} defines no node', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
