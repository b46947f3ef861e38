# mason's sandbox helper (see mason/build/sandbox.py). Perl because it starts in about
# 2 ms and can make the system calls itself; no module is loaded.
#
#   perl sandbox.pl SYS_UNSHARE SYS_MOUNT SYS_PRCTL MOUNTBASE CAPTURE LOWER... -- COMMAND...
#
# In a new user, mount and network namespace (uid and gid map to themselves, so the
# build runs as the user, without capabilities once COMMAND is executed) it mounts a
# tmpfs on MOUNTBASE and on it, per LOWER (the live prefix, a venv), an overlay
# MOUNTBASE/m<i> whose upper layer MOUNTBASE/u<i> catches every write. COMMAND (bwrap)
# binds them over the live trees. When it has ended, each upper layer that is not empty
# is copied (cp -a: whiteouts and the opaque xattr included) to CAPTURE/<i> for mason to
# read; the tmpfs vanishes with the namespace. The exit status is COMMAND's (128 + the
# signal if it was killed); 125 with a "mason-sandbox:" line when the set-up fails.
use strict;

sub fail { print STDERR "mason-sandbox: $_[0]: $!\n"; exit 125; }
# syscall() wants writable strings and passes numbers as numbers: copy, keep the types.
sub call { my ($number, @args) = @_; return syscall($number, @args) == 0; }

my ($sys_unshare, $sys_mount, $sys_prctl, $base, $capture) = splice(@ARGV, 0, 5);
my @lowers;
push @lowers, shift @ARGV while @ARGV && $ARGV[0] ne '--';
shift @ARGV;
fail("usage") unless @ARGV && @lowers;

my $uid = $<;
my $gid = (split ' ', $()[0];
call($sys_prctl + 0, 1, 9, 0, 0, 0) or fail("prctl");    # PR_SET_PDEATHSIG, SIGKILL
# CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET
call($sys_unshare + 0, 0x10000000 | 0x00020000 | 0x40000000) or fail("unshare");
for (["/proc/self/setgroups", "deny"], ["/proc/self/uid_map", "$uid $uid 1\n"],
     ["/proc/self/gid_map", "$gid $gid 1\n"]) {
    open(my $f, '>', $_->[0]) or fail("open $_->[0]");
    print $f $_->[1];
    close($f) or fail("write $_->[0]");
}
# Nothing done here may reach the parent namespace: MS_REC | MS_PRIVATE on /.
call($sys_mount + 0, "none", "/", 0, 0x4000 | 0x40000, 0) or fail("make / private");
call($sys_mount + 0, "mason-sandbox", $base, "tmpfs", 0, "mode=0700")
    or fail("mount tmpfs on $base");
for my $i (0 .. $#lowers) {
    mkdir("$base/$_$i") or fail("mkdir $base/$_$i") for qw(u w m);
    my $opts = "userxattr,lowerdir=$lowers[$i],upperdir=$base/u$i,workdir=$base/w$i";
    call($sys_mount + 0, "mason-sandbox", "$base/m$i", "overlay", 0, $opts)
        or fail("mount overlay of $lowers[$i]");
}
# The loopback interface up (SIOCSIFFLAGS, IFF_UP | IFF_LOOPBACK | IFF_RUNNING).
socket(my $sock, 2, 2, 0) or fail("socket");
my $ifreq = pack("Z16 s x22", "lo", 1 | 8 | 0x40);
ioctl($sock, 0x8914, $ifreq) or fail("loopback up");
close($sock);

my $pid = fork() // fail("fork");
if ($pid == 0) { exec { $ARGV[0] } @ARGV; fail("exec $ARGV[0]"); }
$SIG{$_} = 'IGNORE' for qw(INT TERM HUP);    # the child decides; we report its end
waitpid($pid, 0);
my $status = $? & 127 ? 128 + ($? & 127) : $? >> 8;
for my $i (0 .. $#lowers) {
    opendir(my $d, "$base/u$i") or fail("read $base/u$i");
    next unless grep { $_ ne '.' && $_ ne '..' } readdir($d);
    mkdir($capture) unless -d $capture;
    system("cp", "-a", "--", "$base/u$i", "$capture/$i") == 0 or fail("copy $base/u$i");
}
exit $status;
