// TenantAttach.Records.cs: the hot loop of Sync-TenantAttachDevice in compiled code. The module
// compiles it together with TenantAttach.Interop.cs (Add-Type); unlike that file it needs
// System.Management.Automation (PSObject), so C# tools that only P/Invoke the library leave it out.
//
// Written in C# 5, like TenantAttach.Interop.cs, for Windows PowerShell 5.1's Add-Type.
//
// DeviceRecordWriter takes each pipeline object once (Add), reads the device properties the library
// knows by name (PropertyReader), and appends them as one NDJSON line to a temporary file that the library then
// streams (ta_client_sync_devices_file). What the line holds is what the module sent before as a
// JSON array built with ConvertTo-Json: the same properties in the same order, null values left out,
// strings, Booleans and numbers as JSON writes them; anything else (a nested object, a date) is
// handed to the fallback the module gives (ConvertTo-Json) so that it reaches the library as before.
// The same objects give the same bytes on every run, which lets the library recognise unchanged
// devices by the hash of their line instead of parsing them (its line cache).

using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.IO;
using System.Linq.Expressions;
using System.Management.Automation;
using System.Text;

namespace TenantAttach.Interop
{
    /// <summary>Writes pipeline objects shaped like Get-CMDevice output as NDJSON to a temporary file,
    /// deleted when the writer is disposed.</summary>
    public sealed class DeviceRecordWriter : IDisposable
    {
        /// <summary>The properties the library reads, in the order they are written.</summary>
        public static readonly string[] PropertyNames = new string[]
        {
            "Name", "ResourceID", "SMSID", "SMSUniqueIdentifier", "IsClient", "Client", "IsObsolete", "DeviceOS", "DeviceOSBuild",
            "ClientVersion", "SiteCode", "AADDeviceID", "AADTenantID", "AADPrimaryUserID", "Model", "Manufacturer", "SerialNumber", "Domain",
            "DomainNames", "SKU", "CollectionIDs", "IsDistributionPoint"
        };

        private const int ResourceIdSlot = 1;
        private const int SmsIdSlot = 2;
        private const int SmsUniqueIdentifierSlot = 3;
        private const int CollectionIdsSlot = 20;

        private static readonly byte[][] Keys = NdjsonOutput.KeysOf(PropertyNames);

        private readonly object[] values = new object[PropertyNames.Length];
        private readonly PropertyReader reader = new PropertyReader(PropertyNames);
        private readonly Dictionary<string, string> smsIdByResourceId;
        private readonly NdjsonOutput output;
        private readonly string path;
        private long count;
        private bool hasMembership;

        /// <summary>A writer to a new temporary file. <paramref name="fallback"/> turns a value of a type
        /// this class does not write itself into JSON text (the module passes ConvertTo-Json).
        /// <paramref name="keepResourceIds"/> keeps each record's ResourceID and SMSID, for collection
        /// members given by ResourceID only.</summary>
        public DeviceRecordWriter(Func<object, string> fallback, bool keepResourceIds)
        {
            if (fallback == null) throw new ArgumentNullException("fallback");
            if (keepResourceIds) smsIdByResourceId = new Dictionary<string, string>(StringComparer.Ordinal);
            path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tenant-attach-devices-" + Guid.NewGuid().ToString("N") + ".ndjson");
            // Readable by the library while open; deleted on Dispose, and by the system where the
            // process ends first (Windows) or when the handle is finalized.
            FileStream stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, 1, FileOptions.DeleteOnClose);
            output = new NdjsonOutput(stream, fallback);
        }

        /// <summary>The NDJSON file (complete after <see cref="Complete"/>).</summary>
        public string Path { get { return path; } }

        /// <summary>The number of records written.</summary>
        public long Count { get { return count; } }

        /// <summary>True once a record carried CollectionIDs.</summary>
        public bool HasMembership { get { return hasMembership; } }

        /// <summary>Appends one object as an NDJSON line; null is ignored.</summary>
        public void Add(PSObject item)
        {
            if (item == null) return;
            Array.Clear(values, 0, values.Length);
            reader.Read(item, values);
            output.WriteObject(Keys, values);
            if (values[CollectionIdsSlot] != null) hasMembership = true;
            if (smsIdByResourceId != null && values[ResourceIdSlot] != null)
            {
                object id = values[SmsIdSlot] ?? values[SmsUniqueIdentifierSlot];
                string idText = id == null ? null : Convert.ToString(id, CultureInfo.InvariantCulture);
                if (!string.IsNullOrEmpty(idText))
                    smsIdByResourceId[Convert.ToString(values[ResourceIdSlot], CultureInfo.InvariantCulture)] = idText;
            }
            count++;
        }

        /// <summary>The SMSID of the record with this ResourceID (the last one given), or null; only
        /// when the writer was created to keep them.</summary>
        public string SmsIdOfResource(string resourceId)
        {
            string smsId;
            if (smsIdByResourceId == null || resourceId == null) return null;
            return smsIdByResourceId.TryGetValue(resourceId, out smsId) ? smsId : null;
        }

        /// <summary>Writes what is buffered; the file is then complete for the library to read.</summary>
        public void Complete()
        {
            output.Flush();
        }

        /// <summary>Closes and deletes the file.</summary>
        public void Dispose()
        {
            try { output.Dispose(); }
            finally
            {
                try { if (File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    /// <summary>
    /// The join of Get-TenantAttachInventory in compiled code: tables of hardware inventory by
    /// ResourceID, then one record per device (the copied Get-CMDevice properties and what was joined
    /// to them) as an object for the pipeline or an NDJSON line. Same rules as the script it
    /// replaces: a value that is null or empty text is left out; the first row of a ResourceID wins.
    /// </summary>
    public sealed class InventoryJoin
    {
        private static readonly string[] Copied = new string[]
        {
            "Name", "ResourceID", "SMSID", "IsClient", "IsObsolete", "DeviceOS", "DeviceOSBuild", "ClientVersion", "SiteCode", "Domain",
            "SerialNumber", "AADDeviceID", "AADTenantID"
        };
        // The record's properties, in the order the script wrote them: the copied ones, then the joined.
        private static readonly string[] Written = new string[]
        {
            "Name", "ResourceID", "SMSID", "IsClient", "IsObsolete", "DeviceOS", "DeviceOSBuild", "ClientVersion", "SiteCode", "Domain",
            "SerialNumber", "AADDeviceID", "AADTenantID", "Manufacturer", "Model", "SerialNumber", "SKU", "AADPrimaryUserID", "IsDistributionPoint",
            "CollectionIDs"
        };
        private const int ResourceIdSlot = 1;
        private const int SerialSlot = 10;
        private const int ManufacturerSlot = 13;
        private const int ModelSlot = 14;
        private const int JoinedSerialSlot = 15; // a serial number only the hardware inventory has
        private const int SkuSlot = 16;
        private const int PrimaryUserSlot = 17;
        private const int DistributionPointSlot = 18;
        private const int CollectionIdsSlot = 19;
        private static readonly byte[][] Keys = NdjsonOutput.KeysOf(Written);

        private readonly object[] values = new object[Written.Length];
        private readonly PropertyReader reader = new PropertyReader(Copied);
        private readonly Dictionary<uint, object> manufacturer;
        private readonly Dictionary<uint, object> model;
        private readonly Dictionary<uint, object> serial;
        private readonly Dictionary<uint, object> sku;
        private readonly Dictionary<uint, string> primaryUser;
        private readonly HashSet<uint> distributionPoints;
        private readonly HashSet<uint> members;
        private readonly string[] collectionIds;

        public InventoryJoin(Dictionary<uint, object> manufacturer, Dictionary<uint, object> model, Dictionary<uint, object> serial,
            Dictionary<uint, object> sku, Dictionary<uint, string> primaryUser, HashSet<uint> distributionPoints, HashSet<uint> members, string collectionId)
        {
            this.manufacturer = manufacturer;
            this.model = model;
            this.serial = serial;
            this.sku = sku;
            this.primaryUser = primaryUser;
            this.distributionPoints = distributionPoints;
            this.members = members;
            collectionIds = string.IsNullOrEmpty(collectionId) ? null : new string[] { collectionId.ToUpperInvariant() };
        }

        /// <summary>The first value (not null, not empty text) of <paramref name="property"/> for each
        /// ResourceID of <paramref name="rows"/>.</summary>
        public static Dictionary<uint, object> ByResource(IEnumerable rows, string property)
        {
            Dictionary<uint, object> table = new Dictionary<uint, object>();
            if (rows == null) return table;
            foreach (object row in rows)
            {
                object value = Member(row, property);
                object id = Member(row, "ResourceID");
                if (id == null || IsEmpty(value)) continue;
                uint key = ResourceId(id);
                if (!table.ContainsKey(key)) table[key] = value;
            }
            return table;
        }

        /// <summary>The ResourceIDs of rows (collection members), as [uint32].</summary>
        public static HashSet<uint> ResourceIds(IEnumerable rows)
        {
            HashSet<uint> ids = new HashSet<uint>();
            if (rows == null) return ids;
            foreach (object row in rows)
            {
                object id = Member(row, "ResourceID");
                if (id != null) ids.Add(ResourceId(id));
            }
            return ids;
        }

        /// <summary>The ResourceIDs of the systems (SMS_R_System) one of whose ResourceNames is in
        /// <paramref name="upperNames"/> (distribution point FQDNs, upper case).</summary>
        public static HashSet<uint> DistributionPoints(IEnumerable systems, ICollection upperNames)
        {
            HashSet<uint> ids = new HashSet<uint>();
            HashSet<string> names = new HashSet<string>(StringComparer.Ordinal);
            if (upperNames != null) foreach (object n in upperNames) if (n != null) names.Add(n.ToString());
            if (systems == null || names.Count == 0) return ids;
            foreach (object system in systems)
            {
                object resourceNames = Member(system, "ResourceNames");
                if (resourceNames == null) continue;
                IEnumerable list = resourceNames as IEnumerable;
                if (list == null || resourceNames is string) list = new object[] { resourceNames };
                foreach (object n in list)
                {
                    string text = n == null ? null : Text(n);
                    if (!string.IsNullOrEmpty(text) && names.Contains(text.ToUpperInvariant()))
                        ids.Add(ResourceId(Member(system, "ResourceID")));
                }
            }
            return ids;
        }

        /// <summary>The primary user of each device: the active relationships' (SMS_UserMachineRelationship)
        /// users, by the Azure AD object id their SMS_R_User record carries (the first one per device).</summary>
        public static Dictionary<uint, string> PrimaryUsers(IEnumerable users, IEnumerable relations)
        {
            Dictionary<string, string> aadIdOf = new Dictionary<string, string>(StringComparer.Ordinal);
            if (users != null)
            {
                foreach (object user in users)
                {
                    object unique = Member(user, "UniqueUserName");
                    object aad = null;
                    foreach (string n in new string[] { "AADUserID", "AzureADUserID", "AADObjectID" })
                    {
                        if (!LanguagePrimitives.IsTrue(aad)) aad = Member(user, n);
                    }
                    if (LanguagePrimitives.IsTrue(unique) && LanguagePrimitives.IsTrue(aad)) aadIdOf[Text(unique).ToUpperInvariant()] = Text(aad);
                }
            }
            Dictionary<uint, string> primary = new Dictionary<uint, string>();
            if (relations == null) return primary;
            foreach (object relation in relations)
            {
                object active = Member(relation, "IsActive");
                object unique = Member(relation, "UniqueUserName");
                object id = Member(relation, "ResourceID");
                // ($active -eq $false, as PowerShell compares: 0 and 'False' are false too.)
                if ((active != null && LanguagePrimitives.Equals(active, false, true, CultureInfo.InvariantCulture)) || !LanguagePrimitives.IsTrue(unique) || id == null) continue;
                string aad;
                if (!aadIdOf.TryGetValue(Text(unique).ToUpperInvariant(), out aad) || string.IsNullOrEmpty(aad)) continue;
                uint key = ResourceId(id);
                if (!primary.ContainsKey(key)) primary[key] = aad;
            }
            return primary;
        }

        /// <summary>A member of a row as the module's Get-TenantAttachMember reads it: a dictionary's
        /// key or an object's property; null where absent.</summary>
        public static object Member(object row, string name)
        {
            if (row == null) return null;
            PSObject wrapped = row as PSObject;
            object baseObject = wrapped != null ? wrapped.BaseObject : row;
            IDictionary dictionary = baseObject as IDictionary;
            if (dictionary != null) return dictionary.Contains(name) ? Unwrap(dictionary[name]) : null;
            PSPropertyInfo property = (wrapped ?? PSObject.AsPSObject(row)).Properties[name];
            return property == null ? null : Unwrap(property.Value);
        }

        /// <summary>[uint32]$id, as PowerShell converts it.</summary>
        public static uint ResourceId(object id)
        {
            if (id is uint) return (uint)id;
            return (uint)LanguagePrimitives.ConvertTo(id, typeof(uint), CultureInfo.InvariantCulture);
        }

        /// <summary>The record of one device: an object for the pipeline (a PSCustomObject named
        /// TenantAttach.InventoryRecord) when <paramref name="output"/> is null, else an NDJSON line.</summary>
        public PSObject Join(PSObject device, NdjsonOutput output)
        {
            Array.Clear(values, 0, values.Length);
            if (device == null) return null;
            if (device.BaseObject is IDictionary && !(device.BaseObject is PSCustomObject))
            {
                for (int i = 0; i < Copied.Length; i++) values[i] = Member(device, Copied[i]);
            }
            else reader.Read(device, values);
            for (int i = 0; i < Copied.Length; i++)
            {
                if (IsEmpty(values[i])) values[i] = null;
            }
            object id = values[ResourceIdSlot];
            if (id != null)
            {
                uint key = ResourceId(id);
                object found;
                string user;
                if (manufacturer.TryGetValue(key, out found)) values[ManufacturerSlot] = Text(found);
                if (model.TryGetValue(key, out found)) values[ModelSlot] = Text(found);
                if (values[SerialSlot] == null && serial.TryGetValue(key, out found)) values[JoinedSerialSlot] = Text(found);
                if (sku.TryGetValue(key, out found)) values[SkuSlot] = Text(found);
                if (primaryUser.TryGetValue(key, out user)) values[PrimaryUserSlot] = user;
                if (distributionPoints.Contains(key)) values[DistributionPointSlot] = true;
                if (collectionIds != null && members.Contains(key)) values[CollectionIdsSlot] = new object[] { collectionIds[0] };
            }
            if (output != null)
            {
                output.WriteObject(Keys, values);
                return null;
            }
            PSObject record = new PSObject();
            for (int i = 0; i < values.Length; i++)
            {
                if (values[i] != null) record.Properties.Add(new PSNoteProperty(Written[i], values[i]));
            }
            record.TypeNames.Insert(0, "TenantAttach.InventoryRecord");
            return record;
        }

        private static object Unwrap(object value)
        {
            PSObject wrapped = value as PSObject;
            return wrapped != null && !(wrapped.BaseObject is PSCustomObject) ? wrapped.BaseObject : value;
        }

        private static string Text(object value)
        {
            return (string)LanguagePrimitives.ConvertTo(value, typeof(string), CultureInfo.InvariantCulture);
        }

        /// <summary>$null, or text that is empty as [string] makes it ('' or an empty array).</summary>
        private static bool IsEmpty(object value)
        {
            if (value == null) return true;
            string s = value as string;
            if (s != null) return s.Length == 0;
            if (value is bool || value is int || value is uint || value is long) return false;
            return Text(value).Length == 0;
        }
    }

    /// <summary>Reads the properties a record is made of from pipeline objects: one walk over an
    /// object's properties (note properties of a PSCustomObject, adapted ones of a CIM or .NET object,
    /// type-table members), each name matched ignoring case, as PowerShell matches property names.
    /// One reader serves one thread, for one command (it remembers what the type table of the
    /// command's session adds to each type).</summary>
    public sealed class PropertyReader
    {
        private readonly Dictionary<string, int> slots;
        // The names of the last object's properties in their order, and their slots (-1: not read):
        // objects made alike ([pscustomobject]@{...} in a loop, Select-Object, one WMI class) have
        // their properties in the same order under the very same name strings, so each name is
        // matched by a comparison instead of a case-insensitive lookup.
        private string[] shapeNames = new string[32];
        private int[] shapeSlots = new int[32];
        private PSPropertyInfo[] own = new PSPropertyInfo[32];
        // Per list of type names: whether the type table gives such objects properties, which only
        // the general path reads.
        private readonly Dictionary<string, bool> typeTableAdds = new Dictionary<string, bool>(StringComparer.Ordinal);
        private string[] lastTypeNames;
        private bool lastTypeTableAdds;

        /// <summary>A reader of the properties <paramref name="names"/>, into the slots of their index.</summary>
        public PropertyReader(string[] names)
        {
            if (names == null) throw new ArgumentNullException("names");
            slots = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < names.Length; i++) slots[names[i]] = i;
        }

        /// <summary>Whether PSCustomObjects are read from PowerShell's own members (else every object
        /// takes the general path, PSObject.Properties).</summary>
        public static bool ReadsInstanceMembers { get { return fastPath; } }

        /// <summary>Reads the properties of <paramref name="item"/> into <paramref name="values"/> (by
        /// slot; left as they are where the object has no such property or its value is null).</summary>
        public void Read(PSObject item, object[] values)
        {
            int count = InstanceProperties(item);
            if (count >= 0)
            {
                try
                {
                    for (int i = 0; i < count; i++)
                    {
                        PSPropertyInfo property = own[i];
                        string name = property.Name;
                        int slot;
                        string known = i < shapeNames.Length ? shapeNames[i] : null;
                        if (known != null && ((object)known == (object)name || string.Equals(known, name, StringComparison.Ordinal))) slot = shapeSlots[i];
                        else
                        {
                            if (!slots.TryGetValue(name, out slot)) slot = -1;
                            if (i < shapeNames.Length)
                            {
                                shapeNames[i] = name;
                                shapeSlots[i] = slot;
                            }
                        }
                        if (slot >= 0) Take(property, slot, values);
                    }
                }
                finally
                {
                    // (Also when a script property threw: the reader holds no object once done.)
                    Array.Clear(own, 0, count);
                }
                return;
            }
            foreach (PSPropertyInfo property in item.Properties)
            {
                int slot;
                if (slots.TryGetValue(property.Name, out slot)) Take(property, slot, values);
            }
        }

        private static void Take(PSPropertyInfo property, int slot, object[] values)
        {
            object value;
            try { value = property.Value; }
            catch (GetValueException) { return; }
            if (value == null) return;
            PSObject wrapped = value as PSObject;
            if (wrapped != null && !(wrapped.BaseObject is PSCustomObject)) value = wrapped.BaseObject;
            values[slot] = value;
        }

        // PSObject.Properties builds a new collection of every member (the object's own, its
        // adapter's, the type table's) for each object it enumerates: 15 us a device, 2.5 s for
        // 175,000. A PSCustomObject ([pscustomobject]@{...}, Select-Object, ConvertFrom-Json output)
        // has no adapter, so where the type table adds no property to objects of its type names its
        // properties are exactly its own members. PowerShell keeps them in the internal
        // InstanceMembers, whose enumerator copies them to a new list (2.5 us a device); they are
        // read here from the ordered dictionary that collection holds, under the lock PowerShell
        // takes on it, into a reused array (1 us a device with the names matched).
        //
        // PSObject.TypeNames gives a copy of the type names of an object that has none of its own,
        // and keeps it for the object's lifetime in a ConditionalWeakTable: one more entry that every
        // garbage collection of the session scans (175,000 objects: 5 ms more for each). The names
        // are read where PowerShell keeps them, without that copy.
        //
        // A deserialized object (Import-Clixml, remoting) is a PSCustomObject whose properties are
        // adapted members of its own: it takes the general path.
        //
        // Each internal is reached by a getter compiled once and tried once on an object made here;
        // where one is missing or fails (another PowerShell, a .NET that refuses), every object takes
        // the general path, and so does every later object once a getter has failed.
        private static readonly Func<PSObject, System.Collections.Specialized.OrderedDictionary> InstanceMembersOf;
        private static readonly Func<PSObject, Collection<string>> TypeNamesOf;
        private static readonly Func<PSObject, object> AdaptedMembersOf;
        private static volatile bool fastPath;

        static PropertyReader()
        {
            try
            {
                const System.Reflection.BindingFlags internals = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance;
                ParameterExpression item = Expression.Parameter(typeof(PSObject), "item");
                System.Reflection.PropertyInfo members = typeof(PSObject).GetProperty("InstanceMembers", internals);
                System.Reflection.PropertyInfo names = typeof(PSObject).GetProperty("InternalTypeNames", internals);
                // (A property in PowerShell 7, a field in Windows PowerShell.)
                System.Reflection.MemberInfo adapted = (System.Reflection.MemberInfo)typeof(PSObject).GetProperty("AdaptedMembers", internals)
                    ?? typeof(PSObject).GetField("adaptedMembers", internals);
                System.Reflection.FieldInfo dictionary = null;
                if (members != null)
                {
                    foreach (System.Reflection.FieldInfo field in members.PropertyType.GetFields(internals))
                    {
                        if (field.FieldType == typeof(System.Collections.Specialized.OrderedDictionary)) dictionary = field;
                    }
                }
                if (dictionary == null || names == null || adapted == null || !typeof(Collection<string>).IsAssignableFrom(names.PropertyType)) return;
                InstanceMembersOf = Expression.Lambda<Func<PSObject, System.Collections.Specialized.OrderedDictionary>>(
                    Expression.Field(Expression.Property(item, members), dictionary), item).Compile();
                TypeNamesOf = Expression.Lambda<Func<PSObject, Collection<string>>>(
                    Expression.Convert(Expression.Property(item, names), typeof(Collection<string>)), item).Compile();
                AdaptedMembersOf = Expression.Lambda<Func<PSObject, object>>(
                    Expression.Convert(Expression.MakeMemberAccess(item, adapted), typeof(object)), item).Compile();
                // Tried once: an object with one note property reads as just that.
                PSObject sample = new PSObject();
                sample.Properties.Add(new PSNoteProperty("TenantAttach", 1));
                System.Collections.Specialized.OrderedDictionary own = InstanceMembersOf(sample);
                fastPath = own != null && own.Count >= 1 && own["TenantAttach"] is PSNoteProperty && TypeNamesOf(sample) != null && AdaptedMembersOf(sample) == null;
            }
            catch (Exception)
            {
                fastPath = false;
            }
        }

        private static string[] ToArray(Collection<string> names)
        {
            string[] copy = new string[names.Count];
            names.CopyTo(copy, 0);
            return copy;
        }

        /// <summary>Whether the type names are those of the last object (objects made alike share the
        /// very strings, so this is mostly reference comparisons).</summary>
        private static bool SameNames(Collection<string> names, string[] last)
        {
            if (last == null) return false;
            int n = names == null ? 0 : names.Count;
            if (n != last.Length) return false;
            for (int i = 0; i < n; i++)
            {
                string a = names[i];
                if ((object)a != (object)last[i] && !string.Equals(a, last[i], StringComparison.Ordinal)) return false;
            }
            return true;
        }

        /// <summary>How many properties of a PSCustomObject, all its properties, are now in
        /// <see cref="own"/> (the caller clears them); -1 where the general path is needed.</summary>
        private int InstanceProperties(PSObject item)
        {
            if (!fastPath || !(item.BaseObject is PSCustomObject)) return -1;
            System.Collections.Specialized.OrderedDictionary dictionary;
            Collection<string> names;
            try
            {
                if (AdaptedMembersOf(item) != null) return -1;
                names = TypeNamesOf(item);
                dictionary = InstanceMembersOf(item);
            }
            catch (Exception)
            {
                fastPath = false;
                return -1;
            }
            int count = 0;
            if (dictionary != null)
            {
                lock (dictionary)
                {
                    int n = dictionary.Count;
                    if (n > own.Length) own = new PSPropertyInfo[Math.Max(n, own.Length * 2)];
                    for (int i = 0; i < n; i++)
                    {
                        PSPropertyInfo property = dictionary[i] as PSPropertyInfo;
                        if (property != null) own[count++] = property;
                    }
                }
            }
            if (!SameNames(names, lastTypeNames))
            {
                // Once per list of type names and command: does the type table give objects of these
                // types any property? (Asked of an object that has nothing else: what the object
                // holds itself may hide a type-table property of the same name.)
                string[] list = names == null ? new string[0] : ToArray(names);
                string key = string.Join("\n", list);
                if (!typeTableAdds.TryGetValue(key, out lastTypeTableAdds))
                {
                    PSObject probe = new PSObject();
                    Collection<string> probeNames = probe.TypeNames;
                    probeNames.Clear();
                    foreach (string n in list) probeNames.Add(n);
                    lastTypeTableAdds = false;
                    foreach (PSPropertyInfo p in probe.Properties)
                    {
                        lastTypeTableAdds = true;
                        break;
                    }
                    typeTableAdds[key] = lastTypeTableAdds;
                }
                lastTypeNames = list;
            }
            if (!lastTypeTableAdds) return count;
            Array.Clear(own, 0, count);
            return -1;
        }
    }

    /// <summary>NDJSON written to a stream through one reused buffer: strings, Booleans and integers
    /// written here as ConvertTo-Json writes them, other values by the fallback given.</summary>
    public sealed class NdjsonOutput : IDisposable
    {
        private const int MaxDepth = 3;
        private static readonly byte[] Hex = Encoding.ASCII.GetBytes("0123456789abcdef");
        private readonly Func<object, string> fallback;
        private Stream stream;
        private byte[] buffer = new byte[1 << 16];
        private int used;

        public NdjsonOutput(Stream stream, Func<object, string> fallback)
        {
            if (stream == null) throw new ArgumentNullException("stream");
            if (fallback == null) throw new ArgumentNullException("fallback");
            this.stream = stream;
            this.fallback = fallback;
        }

        /// <summary>A new file (replacing one of that name), UTF-8 without a BOM.</summary>
        public static NdjsonOutput Create(string path, Func<object, string> fallback)
        {
            return new NdjsonOutput(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1), fallback);
        }

        public static byte[][] KeysOf(string[] names)
        {
            byte[][] keys = new byte[names.Length][];
            for (int i = 0; i < names.Length; i++) keys[i] = Encoding.ASCII.GetBytes("\"" + names[i] + "\":");
            return keys;
        }

        /// <summary>One line: {"key":value,...} for the values that are not null, in order.</summary>
        public void WriteObject(byte[][] keys, object[] values)
        {
            if (stream == null) throw new ObjectDisposedException("NdjsonOutput");
            Put((byte)'{');
            bool first = true;
            for (int i = 0; i < values.Length; i++)
            {
                object value = values[i];
                if (value == null) continue;
                if (!first) Put((byte)',');
                first = false;
                PutBytes(keys[i]);
                WriteValue(value, 1);
            }
            Put((byte)'}');
            Put((byte)'\n');
            Lines++;
            if (used > buffer.Length - 4096) Drain();
        }

        /// <summary>The object lines written so far.</summary>
        public long Lines { get; private set; }

        /// <summary>The last line of an inventory export: {"@tenantAttachTrailer":{"records":N}}, the count of the
        /// lines before it, which the upload checks, so that an export cut short is never taken for a smaller fleet.</summary>
        public void WriteTrailer()
        {
            if (stream == null) throw new ObjectDisposedException("NdjsonOutput");
            PutBytes(Encoding.ASCII.GetBytes("{\"@tenantAttachTrailer\":{\"records\":" + Lines.ToString(CultureInfo.InvariantCulture) + "}}\n"));
            Drain();
        }

        public void Flush()
        {
            if (stream == null) throw new ObjectDisposedException("NdjsonOutput");
            Drain();
            stream.Flush();
        }

        public void Dispose()
        {
            if (stream == null) return;
            try { stream.Dispose(); }
            finally
            {
                stream = null;
                buffer = null;
            }
        }

        private void WriteValue(object value, int depth)
        {
            string s = value as string;
            if (s != null) { WriteString(s); return; }
            if (value is bool) { PutAscii((bool)value ? "true" : "false"); return; }
            if (value is int) { PutInteger((int)value); return; }
            if (value is uint) { PutInteger((uint)value); return; }
            if (value is long) { PutInteger((long)value); return; }
            if (value is ulong) { PutUnsigned((ulong)value); return; }
            if (value is short) { PutInteger((short)value); return; }
            if (value is ushort) { PutInteger((ushort)value); return; }
            if (value is byte) { PutInteger((byte)value); return; }
            if (value is sbyte) { PutInteger((sbyte)value); return; }
            if (value is char) { WriteString(value.ToString()); return; }
            if (value is Guid) { WriteString(((Guid)value).ToString()); return; }
            if (value is DBNull) { PutAscii("null"); return; }
            if (value is Enum)
            {
                // ConvertTo-Json writes an enum as its number.
                PutAscii(Convert.ToString(Convert.ChangeType(value, Enum.GetUnderlyingType(value.GetType()), CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
                return;
            }
            IList list = value as IList;
            if (list != null && depth < MaxDepth && !(value is IDictionary))
            {
                Put((byte)'[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) Put((byte)',');
                    object element = list[i];
                    PSObject wrapped = element as PSObject;
                    if (wrapped != null && !(wrapped.BaseObject is PSCustomObject)) element = wrapped.BaseObject;
                    if (element == null) PutAscii("null");
                    else WriteValue(element, depth + 1);
                }
                Put((byte)']');
                return;
            }
            // Dates, doubles, nested objects...: rare in device records; written by ConvertTo-Json.
            string json = fallback(value);
            if (json == null) throw new InvalidOperationException("A device property of type " + value.GetType().FullName + " could not be written as JSON.");
            WriteRaw(json);
        }

        private void Drain()
        {
            if (used == 0) return;
            stream.Write(buffer, 0, used);
            used = 0;
        }

        private void Ensure(int more)
        {
            if (used + more <= buffer.Length) return;
            Drain();
            if (more > buffer.Length)
            {
                int size = buffer.Length;
                while (size < more) size *= 2;
                buffer = new byte[size];
            }
        }

        private void Put(byte b)
        {
            if (used == buffer.Length) Drain();
            buffer[used++] = b;
        }

        private void PutBytes(byte[] bytes)
        {
            Ensure(bytes.Length);
            Buffer.BlockCopy(bytes, 0, buffer, used, bytes.Length);
            used += bytes.Length;
        }

        private void PutAscii(string text)
        {
            Ensure(text.Length);
            for (int i = 0; i < text.Length; i++) buffer[used++] = (byte)text[i];
        }

        private void PutInteger(long value)
        {
            if (value < 0)
            {
                Put((byte)'-');
                PutUnsigned(value == long.MinValue ? (ulong)long.MaxValue + 1 : (ulong)(-value));
            }
            else PutUnsigned((ulong)value);
        }

        private void PutUnsigned(ulong value)
        {
            Ensure(20);
            int start = used;
            do
            {
                buffer[used++] = (byte)('0' + (int)(value % 10));
                value /= 10;
            } while (value != 0);
            Array.Reverse(buffer, start, used - start);
        }

        /// <summary>JSON text from the fallback, on one line (ConvertTo-Json -Compress has no line ends
        /// outside strings, where they are escaped).</summary>
        private void WriteRaw(string json)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(json);
            PutBytes(bytes);
        }

        /// <summary>A JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.</summary>
        private void WriteString(string s)
        {
            Ensure(s.Length * 6 + 2);
            byte[] b = buffer;
            int u = used;
            b[u++] = (byte)'"';
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c < 0x80)
                {
                    if (c >= 0x20 && c != '"' && c != '\\') { b[u++] = (byte)c; continue; }
                    b[u++] = (byte)'\\';
                    switch (c)
                    {
                        case '"': b[u++] = (byte)'"'; break;
                        case '\\': b[u++] = (byte)'\\'; break;
                        case '\n': b[u++] = (byte)'n'; break;
                        case '\r': b[u++] = (byte)'r'; break;
                        case '\t': b[u++] = (byte)'t'; break;
                        case '\b': b[u++] = (byte)'b'; break;
                        case '\f': b[u++] = (byte)'f'; break;
                        default:
                            b[u++] = (byte)'u'; b[u++] = (byte)'0'; b[u++] = (byte)'0';
                            b[u++] = Hex[c >> 4]; b[u++] = Hex[c & 0xF];
                            break;
                    }
                    continue;
                }
                int codePoint = c;
                if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    codePoint = char.ConvertToUtf32(c, s[i + 1]);
                    i++;
                }
                else if (char.IsSurrogate(c))
                {
                    codePoint = 0xFFFD; // as Encoding.UTF8 writes a lone surrogate
                }
                if (codePoint < 0x800)
                {
                    b[u++] = (byte)(0xC0 | (codePoint >> 6));
                    b[u++] = (byte)(0x80 | (codePoint & 0x3F));
                }
                else if (codePoint < 0x10000)
                {
                    b[u++] = (byte)(0xE0 | (codePoint >> 12));
                    b[u++] = (byte)(0x80 | ((codePoint >> 6) & 0x3F));
                    b[u++] = (byte)(0x80 | (codePoint & 0x3F));
                }
                else
                {
                    b[u++] = (byte)(0xF0 | (codePoint >> 18));
                    b[u++] = (byte)(0x80 | ((codePoint >> 12) & 0x3F));
                    b[u++] = (byte)(0x80 | ((codePoint >> 6) & 0x3F));
                    b[u++] = (byte)(0x80 | (codePoint & 0x3F));
                }
            }
            b[u++] = (byte)'"';
            used = u;
        }
    }

    /// <summary>Marks the objects ConvertFrom-Json made from a library result in one pass, instead of
    /// a script loop over each: a type name first (for formatting), and optionally a note property
    /// set on each (replacing one of the same name, as Add-Member -Force does).</summary>
    public static class ResultObjects
    {
        public static void Mark(IList items, string typeName, string propertyName, object propertyValue)
        {
            if (items == null) return;
            for (int i = 0; i < items.Count; i++)
            {
                PSObject item = items[i] as PSObject;
                if (item == null) continue;
                if (!string.IsNullOrEmpty(typeName)) item.TypeNames.Insert(0, typeName);
                if (propertyName == null) continue;
                if (item.Properties[propertyName] != null) item.Properties.Remove(propertyName);
                item.Properties.Add(new PSNoteProperty(propertyName, propertyValue));
            }
        }
    }
}
