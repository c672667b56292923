"""The town's window (乡镇便民服务中心): 一审一核 of the catalogue's ``decided_by: town`` items.

A town-decided case gets one leg named ``town`` (``hub.config.catalogue.TOWN``) that never leaves
the hub: it waits for the town's reviewer (审查员) and approver (负责人). Their actions become leg
events applied by ``hub.tracking`` (the one writer of leg state), each audited with the person.

* ``staff``   roles of town accounts (reviewer / approver) on top of ``hub.accounts``
* ``towns``   which town a case belongs to (village code -> town, pre-merger codes mapped)
* ``desk``    the queue and the actions, with separation of duties
* ``notice``  the decision notice PDF (seal, QR) and its signature
"""
